"""Connected components over accepted pairs: every record in exactly one cluster.

A cluster is named by the smallest record id it holds (compared as strings), so the same records
and the same accepted pairs always give the same cluster ids, whatever order the rows came in.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components


def cluster_records(record_ids: pa.Array, left: np.ndarray, right: np.ndarray) -> pa.Table:
    """`record_id, cluster_id` for every record; `left`/`right` are row positions of linked pairs."""
    n = len(record_ids)
    graph = coo_matrix((np.ones(len(left), dtype=np.int8), (left, right)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    ids = record_ids.cast(pa.string())
    # Smallest id per component: visit records in id order; the first one seen names the component.
    order = pc.sort_indices(ids).to_numpy()
    components, first_pos = np.unique(labels[order], return_index=True)
    first = np.empty(len(components), dtype=np.int64)
    first[components] = order[first_pos]
    cluster_ids = pc.take(ids, pa.array(first[labels]))
    return pa.table({"record_id": ids, "cluster_id": cluster_ids})
