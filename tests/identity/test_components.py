"""Connected components in the warehouse agree with a union–find in memory, in few rounds."""

from __future__ import annotations

import logging
import random

import ibis
import pytest

from flywheel.identity.components import connected_components


def _union_find(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """node → smallest node of its component."""
    parent: dict[str, str] = {}

    def root(n: str) -> str:
        parent.setdefault(n, n)
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    for a, b in pairs:
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {n: root(n) for n in parent}


def _components(wh, pairs: list[tuple[str, str]], name: str = "t") -> dict[str, str]:
    edges = ibis.memtable({"a": [a for a, _ in pairs], "b": [b for _, b in pairs]},
                          schema={"a": "string", "b": "string"})
    rows = wh.fetch(connected_components(wh, edges, name)).to_pylist()
    return {r["node"]: r["label"] for r in rows}


@pytest.mark.parametrize("seed", range(6))
def test_labels_are_the_smallest_node_of_each_component(warehouse, seed):
    rng = random.Random(seed)
    nodes = [f"n{i:04d}" for i in range(rng.randint(2, 300))]
    pairs = [(rng.choice(nodes), rng.choice(nodes)) for _ in range(rng.randint(1, 250))]
    pairs += [(a, a) for a in rng.sample(nodes, 2)]  # self-loops are harmless
    assert _components(warehouse, pairs) == _union_find(pairs)


def test_a_long_path_in_random_order_needs_few_rounds(warehouse, caplog):
    """Propagating only the neighbours' minimum needed 67 rounds here (more than the 64 allowed, so
    resolution failed); hooking the larger label's whole tree needs about log₂ of the path."""
    names = [f"n{i:04d}" for i in range(1024)]
    random.Random(1).shuffle(names)
    pairs = list(zip(names, names[1:]))
    with caplog.at_level(logging.DEBUG, logger="flywheel.identity.components"):
        labels = _components(warehouse, pairs, "path")
    assert set(labels.values()) == {"n0000"} and len(labels) == 1024
    rounds = [r for r in caplog.records if "round" in r.getMessage()]
    assert len(rounds) <= 16
