"""Connected components in the warehouse by min-label propagation with pointer jumping.

Each round gives every node the smallest label among itself and its neighbours, then lets it jump
to its label's label; the number of rounds grows with the log of the longest chain, and every round
is one Ibis query stored as a work table, so DuckDB and Spark run the same steps. It stops when no
edge joins two different labels — the labels are then exactly the components.
"""

from __future__ import annotations

import logging

import ibis

from flywheel.warehouse import Warehouse

log = logging.getLogger(__name__)

MAX_ROUNDS = 64


def connected_components(wh: Warehouse, edges: ibis.Table, name: str) -> ibis.Table:
    """`edges(a, b)` → `(node, label)` for every node in an edge; label = smallest node in its component."""
    both = edges.select(x="a", y="b").union(edges.select(x="b", y="a")).distinct()
    both = wh.materialize(f"{name}_edges", both)
    labels = wh.materialize(f"{name}_labels", both.select(node="x").distinct().mutate(label=ibis._.node))
    for round_no in range(1, MAX_ROUNDS + 1):
        heard = both.join(labels, both.y == labels.node).select(node=both.x, label=labels.label)
        own = labels.select("node", "label")
        lowest = own.union(heard).group_by("node").agg(label=ibis._.label.min())
        lowest = wh.materialize(f"{name}_lowest", lowest)
        parent = lowest.view()
        jumped = lowest.left_join(parent, lowest.label == parent.node).select(
            node=lowest.node, label=ibis.least(lowest.label, parent.label.fill_null(lowest.label)))
        labels = wh.materialize(f"{name}_labels", jumped)
        left, right = labels.view(), labels.view()
        split = both.join(left, both.x == left.node).join(right, both.y == right.node).filter(
            left.label != right.label)
        unsettled = int(split.count().execute())
        log.debug("%s: round %d, %d edges still between labels", name, round_no, unsettled)
        if unsettled == 0:
            return labels
    raise RuntimeError(f"{name}: connected components did not converge in {MAX_ROUNDS} rounds")
