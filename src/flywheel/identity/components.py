"""Connected components in the warehouse by label propagation with hooking and pointer jumping.

Every node starts as its own label. Each round looks at the edges whose ends carry different labels:
the larger label's node and the end that carries it both take the smaller label (hooking the whole
tree behind the larger label, not only the neighbour), then every node jumps to its label's label.
Hooking trees keeps the rounds few (about 2·log₂ of the longest path; plain neighbour-minimum needs
rounds in proportion to it). Every round is one Ibis query stored as a work table, so DuckDB and
Spark run the same steps, and the check that ends it is the same query: no edge joins two labels.
The labels are then exactly the components, each labelled by its smallest node.
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
        lx, ly = labels.view(), labels.view()
        split = both.join(lx, both.x == lx.node).join(ly, both.y == ly.node).filter(lx.label < ly.label).select(
            node=both.y, root=ly.label, label=lx.label)
        unsettled = int(split.count().execute())
        log.debug("%s: round %d, %d edges between labels", name, round_no, unsettled)
        if unsettled == 0:
            return labels
        offers = split.select("node", "label").union(split.select(node="root", label="label"))
        lowest = labels.select("node", "label").union(offers).group_by("node").agg(label=ibis._.label.min())
        parent = lowest.view()
        jumped = lowest.left_join(parent, lowest.label == parent.node).select(
            node=lowest.node, label=ibis.least(lowest.label, parent.label.fill_null(lowest.label)))
        labels = wh.materialize(f"{name}_labels", jumped)
    raise RuntimeError(f"{name}: connected components did not converge in {MAX_ROUNDS} rounds")
