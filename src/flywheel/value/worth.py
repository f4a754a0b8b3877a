"""Value beyond spend: current, potential, social and content value, their weighted score, flags,
KOC detection and GMV concentration.

The four values have different units (yuan, yuan, yuan brought by invitees, review points), so the
combined score weights their percentile ranks: 0 for a person with none of a value, otherwise the
share of persons with that value at or below theirs; `value_score` is the weighted mean × 100.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from flywheel.errors import InputError

COMPONENTS = ("current", "potential", "social", "content")


@dataclass(frozen=True)
class ValueSettings:
    weights: tuple[float, float, float, float] = (0.4, 0.4, 0.1, 0.1)
    """Weights of current, potential, social and content value."""
    high_potential_share: float = 0.2
    """`high_potential_low_activity`: potential value in the top share of buyers with a prediction …"""
    quiet_days: float = 60.0
    """… and no activity for more than this many days."""
    koc_invites: int = 3
    """KOC: at least this many accepted invites, …"""
    koc_converted: int = 2
    """… or this many invitees who bought, …"""
    koc_media_reviews: int = 3
    """… or this many reviews with photos or video."""

    @classmethod
    def parse_weights(cls, text: str) -> tuple[float, float, float, float]:
        """'current=0.4,potential=0.4,social=0.1,content=0.1' → weights (missing names keep defaults)."""
        weights = dict(zip(COMPONENTS, cls().weights))
        for part in filter(None, (p.strip() for p in text.split(","))):
            name, _, raw = part.partition("=")
            if name.strip() not in weights:
                raise InputError(f"--weights: unknown value {name.strip()!r}; expected {', '.join(COMPONENTS)}")
            try:
                weights[name.strip()] = float(raw)
            except ValueError:
                raise InputError(f"--weights: {part!r} needs a number after '='") from None
            if not np.isfinite(weights[name.strip()]) or weights[name.strip()] < 0:
                raise InputError(f"--weights: {part!r} must be a finite number ≥ 0")
        if sum(weights.values()) <= 0:
            raise InputError("--weights: at least one weight must be positive")
        return tuple(weights[c] for c in COMPONENTS)


def percentile(values: pd.Series) -> pd.Series:
    """0 for missing or non-positive values; otherwise the share of persons at or below the value."""
    filled = values.astype("float64").fillna(-np.inf)
    share = filled.rank(method="max") / len(values)
    return share.where(filled > 0, 0.0)


def value_scores(traits: pd.DataFrame, potential: pd.Series, settings: ValueSettings) -> pd.DataFrame:
    """The four values, `value_score`, `high_potential_low_activity` and `is_koc` per person."""
    out = pd.DataFrame(index=traits.index)
    out["current_value"] = traits["net_value_365d"].astype("float64").fillna(0.0)
    out["potential_value"] = potential.astype("float64")
    out["social_value"] = traits["invited_gmv"].astype("float64").fillna(0.0)
    out["content_value"] = (traits["reviews_written"] + 2 * traits["reviews_with_media"]).astype("float64")
    weights = np.array(settings.weights, dtype=float)
    parts = [percentile(out[f"{c}_value"]) for c in COMPONENTS]
    out["value_score"] = 100 * sum(w * p for w, p in zip(weights, parts)) / weights.sum()
    known = out["potential_value"].dropna()
    known = known[known > 0]
    cut = known.quantile(1 - settings.high_potential_share) if len(known) else np.inf
    quiet = traits["days_since_last_activity"].astype("float64").fillna(np.inf) > settings.quiet_days
    out["high_potential_low_activity"] = (out["potential_value"].fillna(0) >= cut) & quiet & (cut > 0)
    out["is_koc"] = ((traits["invites_accepted"] >= settings.koc_invites)
                     | (traits["invites_converted"] >= settings.koc_converted)
                     | (traits["reviews_with_media"] >= settings.koc_media_reviews))
    return out


def concentration(gmv: pd.Series, shares=(0.01, 0.05, 0.10, 0.20, 0.50)) -> list[dict]:
    """Top x% of buying persons by GMV → their share of GMV."""
    values = np.sort(gmv[gmv > 0].to_numpy(dtype=float))[::-1]
    total = values.sum()
    rows = []
    for share in shares:
        n = int(np.ceil(share * len(values))) if len(values) else 0
        rows.append({"top_share": share, "persons": n,
                     "gmv_share": float(values[:n].sum() / total) if total else 0.0})
    return rows


def concentration_curve(gmv: pd.Series, points: int = 100) -> list[tuple[float, float]]:
    """(share of buying persons, share of GMV) from the biggest buyer down: a Lorenz-style curve."""
    values = np.sort(gmv[gmv > 0].to_numpy(dtype=float))[::-1]
    if not len(values):
        return []
    cumulative = np.concatenate([[0.0], np.cumsum(values) / values.sum()])
    xs = np.linspace(0, 1, points + 1)
    idx = np.round(xs * len(values)).astype(int)
    return [(float(x), float(cumulative[i])) for x, i in zip(xs, idx)]
