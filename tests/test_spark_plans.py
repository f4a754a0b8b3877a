"""Iterative algorithms keep Spark's plans bounded: every round starts from stored data whose size
Spark knows, not from the estimate of the plan that made it."""

from __future__ import annotations

import random
import sys

import ibis
import pytest

from flywheel.identity.components import connected_components


def _path(n: int, seed: int) -> ibis.Table:
    """A path through n nodes in random order: min-label propagation needs many rounds on it."""
    names = [f"n{i:04d}" for i in range(n)]
    random.Random(seed).shuffle(names)
    return ibis.memtable({"a": names[:-1], "b": names[1:]})


@pytest.mark.spark
def test_label_propagation_rounds_keep_spark_size_estimates_bounded(spark_warehouse, monkeypatch):
    """Before: each round was a local checkpoint, which keeps the estimated size of the plan that
    made it; Spark estimates a join as the product of its inputs, so the estimate gained digits every
    round until planning spent minutes in BigInteger arithmetic (issue 11, defect 8)."""
    wh = spark_warehouse
    session = wh.con._session
    rounds: list[tuple[int, int, int]] = []  # Catalyst's size estimate, its digits, leaves of the plan
    materialize = wh.engine.materialize

    def recording(con, name, expr):
        materialize(con, name, expr)
        if name.endswith("chain_labels"):
            plan = session.table(name)._jdf.queryExecution().optimizedPlan()
            size = plan.stats().sizeInBytes()
            rounds.append((size, len(str(size)), plan.collectLeaves().size()))

    monkeypatch.setattr(wh.engine, "materialize", recording)
    digits = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)  # so that a runaway estimate (thousands of digits) reaches the assertion
    try:
        labels = wh.fetch(connected_components(wh, _path(1024, seed=1), "chain"))
    finally:
        sys.set_int_max_str_digits(digits)
    assert labels.num_rows == 1024 and set(labels["label"].to_pylist()) == {"n0000"}
    assert len(rounds) >= 8, "the fixture must need many rounds"
    (first_size, _, first_leaves), (last_size, _, last_leaves) = rounds[1], rounds[-1]
    assert last_leaves == first_leaves == 1
    assert last_size <= 4 * first_size, f"digits of the estimated bytes per round: {[d for _, d, _ in rounds]}"
