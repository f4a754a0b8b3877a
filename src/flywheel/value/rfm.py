"""RFM quintile scores and the usual named RFM segments.

Scores are quintiles among buyers (persons with a GMV order): R from `recency_days` (more recent
scores higher), F from `purchase_days`, M from `net_value`. Ties share a score: a quintile is the
ceiling of 5 × the average percentile rank, so equal values never land in different quintiles and
the result does not depend on row order or engine. Persons who never bought score 0 and are
`prospect`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SEGMENTS: tuple[tuple[str, str], ...] = (
    ("champions", "bought recently, buy often and spend the most"),
    ("loyal", "buy often; responsive to promotions"),
    ("potential_loyalist", "recent buyers with average frequency"),
    ("new", "bought recently for the first time"),
    ("promising", "recent shoppers who have not spent much"),
    ("need_attention", "above-average recency, frequency and spend, but slipping"),
    ("about_to_sleep", "below-average recency and frequency"),
    ("cant_lose", "bought often and spent a lot, but long ago"),
    ("at_risk", "spent and bought often, but not recently"),
    ("hibernating", "last purchase long ago, few orders"),
    ("lost", "lowest recency, frequency and spend"),
    ("prospect", "has not bought yet"),
)


def quintile(values: pd.Series, higher_is_better: bool = True) -> pd.Series:
    """Scores 1–5 with ties sharing a score; NaN stays 0."""
    ranked = values.rank(method="average", pct=True, ascending=higher_is_better)
    return np.ceil(ranked * 5).clip(1, 5).fillna(0).astype("int64")


def segment(r: int, f: int, m: int) -> str:
    """Named segment from the three scores (first matching rule)."""
    if r == 0:
        return "prospect"
    fm = (f + m) / 2
    if r >= 4 and fm >= 4:
        return "champions"
    if r >= 3 and fm >= 3.5:
        return "loyal"
    if r >= 4 and fm >= 2.5:
        return "potential_loyalist"
    if r >= 4 and f <= 2 and fm < 2.5:
        return "new" if f <= 1 else "promising"
    if r >= 4:
        return "promising"
    if r == 3 and fm >= 2.5:
        return "need_attention"
    if r == 3:
        return "about_to_sleep"
    if fm >= 4.5:
        return "cant_lose"
    if fm >= 3:
        return "at_risk"
    if r == 2:
        return "hibernating"
    return "lost"


def rfm_scores(traits: pd.DataFrame) -> pd.DataFrame:
    """`rfm_r, rfm_f, rfm_m, rfm_segment` aligned with `traits` (needs recency_days, purchase_days,
    net_value, orders)."""
    buyers = traits["orders"].fillna(0) > 0
    out = pd.DataFrame(index=traits.index)
    for name, column, higher in (("rfm_r", "recency_days", False), ("rfm_f", "purchase_days", True),
                                 ("rfm_m", "net_value", True)):
        values = traits[column].astype("float64").where(buyers)
        out[name] = quintile(values, higher)
    out["rfm_segment"] = [segment(r, f, m) for r, f, m in zip(out.rfm_r, out.rfm_f, out.rfm_m)]
    return out
