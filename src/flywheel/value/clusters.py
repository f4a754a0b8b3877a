"""k-means clusters on standardised traits, each described in plain words.

Counts and money are log-scaled (log1p) before standardising so a few whales do not own a cluster;
unknown values (no purchase yet, no events) become 0 on the log scale / the buyers' median for days.
A cluster's description names its most distinguishing traits: the ones whose cluster mean is
furthest, in standard deviations, from the mean of everyone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from flywheel.errors import InputError

FEATURES: dict[str, tuple[str, bool]] = {
    # trait: (words, log-scaled)
    "purchase_days": ("purchase days", True),
    "net_value": ("net spend", True),
    "aov": ("order value", True),
    "recency_days": ("days since last order", False),
    "tenure_days": ("tenure", False),
    "refund_rate": ("refund rate", False),
    "discounted_order_share": ("coupon use", False),
    "marketplace_order_share": ("marketplace share", False),
    "events": ("site activity", True),
    "campaign_touches": ("ad touches", True),
    "invites_accepted": ("invites brought", True),
    "reviews_written": ("reviews", True),
    "wecom_member": ("WeCom membership", False),
}


@dataclass
class ClusterResult:
    labels: np.ndarray
    descriptions: dict[int, str]
    sizes: dict[int, int]
    centres: pd.DataFrame


def feature_matrix(traits: pd.DataFrame) -> pd.DataFrame:
    frame = pd.DataFrame(index=traits.index)
    for name, (_, log_scaled) in FEATURES.items():
        values = traits[name].astype("float64")
        if log_scaled:
            values = np.log1p(values.clip(lower=0).fillna(0))
        else:
            values = values.fillna(values.median() if values.notna().any() else 0.0)
        frame[name] = values
    return frame


def describe(centre: pd.Series, top: int = 3, threshold: float = 0.25) -> str:
    """'high net spend, high purchase days, low days since last order' from a centre in z-scores."""
    words = _words(centre, threshold)[:top]
    return ", ".join(words) if words else "close to the average person"


def _words(centre: pd.Series, threshold: float) -> list[str]:
    ordered = centre.reindex(centre.abs().sort_values(ascending=False, kind="stable").index)
    return [f"{'high' if z > 0 else 'low'} {FEATURES[name][0]}" for name, z in ordered.items() if abs(z) >= threshold]


def distinct_descriptions(centres: pd.DataFrame, top: int = 3) -> dict[int, str]:
    """One description per cluster; a cluster whose words repeat another's gets its next trait added."""
    out: dict[int, str] = {}
    for c in centres.index:
        words, n = _words(centres.loc[c], 0.25), top
        text = ", ".join(words[:n]) or "close to the average person"
        while text in out.values() and n < len(words):
            n += 1
            text = ", ".join(words[:n])
        if text in out.values():
            text = f"{text} (group {int(c)})"
        out[int(c)] = text
    return out


def cluster_persons(traits: pd.DataFrame, k: int = 8, seed: int = 0) -> ClusterResult:
    """Fit k-means on the standardised features of every person; clusters numbered by size."""
    from sklearn.cluster import KMeans  # imported here: scikit-learn takes a second to load
    from sklearn.preprocessing import StandardScaler

    if k < 1:
        raise InputError(f"k must be at least 1. Got {k}.")
    features = feature_matrix(traits)
    n_distinct = len(features.drop_duplicates())
    k_used = min(k, n_distinct)
    if k_used < 1:
        raise InputError("no persons to cluster")
    z = StandardScaler().fit_transform(features.to_numpy())
    z = np.nan_to_num(z)
    model = KMeans(n_clusters=k_used, n_init=4, random_state=seed).fit(z)
    raw = model.labels_
    order = pd.Series(raw).value_counts().sort_index().sort_values(ascending=False, kind="stable").index
    renumber = {old: new for new, old in enumerate(order)}
    labels = np.array([renumber[x] for x in raw], dtype=np.int64)
    zframe = pd.DataFrame(z, columns=features.columns)
    centres = zframe.groupby(labels).mean()
    descriptions = distinct_descriptions(centres)
    sizes = {int(c): int(n) for c, n in pd.Series(labels).value_counts().sort_index().items()}
    return ClusterResult(labels, descriptions, sizes, centres)
