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


def pairwise_scores(cluster_ids: pa.Array, truth_labels: pa.Array) -> dict:
    """Pairwise precision, recall and F1 of a clustering against true labels (aligned arrays).

    Every pair of records sharing a cluster is a predicted link, every pair sharing a label a true
    one; counted from group sizes (Σ n(n−1)/2), so a million records cost no pair enumeration.
    """
    def pairs(*keys: pa.Array) -> int:
        table = pa.table({f"k{i}": k.cast(pa.string()) for i, k in enumerate(keys)})
        sizes = table.group_by(table.column_names).aggregate([([], "count_all")])["count_all"].to_numpy()
        return int((sizes * (sizes - 1) // 2).sum())

    found, true, hits = pairs(cluster_ids), pairs(truth_labels), pairs(cluster_ids, truth_labels)
    precision = hits / found if found else 1.0
    recall = hits / true if true else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "true_pairs": true, "found_pairs": found,
            "correct_pairs": hits}
