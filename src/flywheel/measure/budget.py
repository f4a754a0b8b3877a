"""Budget allocation across campaigns or ad groups by Thompson sampling, one decision a day.

Each arm's share of tomorrow's budget is the posterior probability that it is the best arm
(probability matching: batch Thompson sampling), never below a floor, so every arm keeps being
measured and a wrong early belief can recover. Two posteriors:

- `rate`: Beta–Bernoulli on conversions per click (prior Beta(1, 1));
- `roi`: Normal on the mean daily ROI of the arm (its days' ROI values; an arm with fewer than two
  days is centred on the measured arms' mean ROI, as wide as their spread, so it is explored).

The result explains every shift: the numbers each share rests on (clicks, conversions, posterior
mean and 95% interval, P(best)) and the share before and after.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from flywheel.errors import InputError
from flywheel.measure.paths import open_csv

DRAWS = 20_000


@dataclass(frozen=True)
class Arm:
    name: str
    clicks: float = 0.0
    conversions: float = 0.0
    roi_days: tuple[float, ...] = ()
    share: float | None = None
    """Today's share of the budget (for the explanation of the shift)."""


def _floored(p: np.ndarray, floor: float) -> np.ndarray:
    """Shares ≥ `floor` each, summing to 1, as close to `p` as the floor allows."""
    k = len(p)
    if floor * k > 1:
        raise InputError(f"a floor of {floor:.0%} per arm cannot hold for {k} arms (at most {1 / k:.0%})")
    shares = p.astype(float).copy()
    fixed = np.zeros(k, bool)
    for _ in range(k):
        low = (shares < floor) & ~fixed
        if not low.any():
            break
        fixed |= low
        free = 1 - floor * fixed.sum()
        rest = p[~fixed].sum()
        shares = np.where(fixed, floor, p * free / rest if rest > 0 else free / max((~fixed).sum(), 1))
    return shares / shares.sum()


def posterior_draws(arms: list[Arm], kind: str, rng: np.random.Generator, draws: int = DRAWS) -> np.ndarray:
    """`draws` × arms samples of each arm's value (conversion rate or mean ROI)."""
    if kind == "rate":
        for a in arms:
            if not (np.isfinite(a.clicks) and np.isfinite(a.conversions)) or a.conversions < 0 or \
                    a.clicks < a.conversions:
                raise InputError(f"arm {a.name}: conversions must be between 0 and its clicks "
                                 f"({a.conversions:g} of {a.clicks:g})")
        alpha = np.array([1 + a.conversions for a in arms])
        beta = np.array([1 + a.clicks - a.conversions for a in arms])
        return rng.beta(alpha, beta, size=(draws, len(arms)))
    if kind == "roi":
        bad = next((a for a in arms if not np.all(np.isfinite(a.roi_days))), None)
        if bad is not None:
            raise InputError(f"arm {bad.name}: every day's ROI must be a finite number")
        known = [a for a in arms if len(a.roi_days) >= 2]
        means = [float(np.mean(a.roi_days)) for a in known]
        ses = [float(np.std(a.roi_days, ddof=1) / np.sqrt(len(a.roi_days))) for a in known]
        centre = float(np.mean(means)) if means else 0.0
        wide = max([3 * max(ses)] + ([float(np.std(means))] if len(means) > 1 else [])) if ses else 1.0
        cols = []
        for a in arms:
            if len(a.roi_days) >= 2:
                mean, se = float(np.mean(a.roi_days)), float(np.std(a.roi_days, ddof=1) / np.sqrt(len(a.roi_days)))
            else:  # like the arms measured so far, as uncertain as their spread: it gets explored
                mean, se = (float(a.roi_days[0]) if a.roi_days else centre), wide
            cols.append(rng.normal(mean, max(se, 1e-12), draws))
        return np.column_stack(cols)
    raise InputError(f"unknown posterior {kind!r}; rate (conversions per click) or roi (daily ROI)")


def recommend(arms: list[Arm], kind: str = "rate", floor: float = 0.01, seed: int = 0,
              max_change: float | None = None) -> dict:
    """Tomorrow's shares and why. With `max_change` (and today's shares given) the split moves
    toward the target along a straight line, no arm's share by more than that many points a day:
    ad platforms restart their learning after large budget swings."""
    if len(arms) < 2:
        raise InputError("budget allocation needs at least two arms (campaigns or ad groups)")
    if not 0 <= floor < 1:
        raise InputError(f"--floor is a share between 0 and 1 (0.01 = 1%); got {floor}")
    if max_change is not None and not 0 < max_change <= 1:
        raise InputError(f"--max-change is a share between 0 and 1 (0.2 = 20 points a day); got {max_change}")
    rng = np.random.default_rng(seed)
    samples = posterior_draws(arms, kind, rng)
    best = np.bincount(samples.argmax(axis=1), minlength=len(arms)) / len(samples)
    shares = _floored(best, floor)
    target = shares
    if max_change is not None:
        if any(a.share is None for a in arms):
            raise InputError("--max-change needs today's share of every arm (a share column)")
        before = np.array([a.share for a in arms], float)
        before = before / before.sum()
        step = float(np.abs(shares - before).max())
        shares = before + (shares - before) * min(1.0, max_change / step) if step > 0 else before
    lo, mid, hi = np.percentile(samples, [2.5, 50, 97.5], axis=0)
    rows = []
    for a, p, s, goal, l, m, h in zip(arms, best, shares, target, lo, mid, hi):
        before = a.share
        why = (f"P(best) {p:.1%}; {kind} {m:.4g} (95% {l:.4g}–{h:.4g})"
               + (f" from {a.conversions:g} conversions in {a.clicks:g} clicks" if kind == "rate"
                  else f" over {len(a.roi_days)} days"))
        if goal == floor and p < floor:
            why += f"; held at the {floor:.0%} floor so it keeps being measured"
        if abs(goal - s) > 1e-12:
            why += f"; heading for {goal:.1%}, at most {max_change:.0%} points a day"
        if before is not None:
            why = f"{before:.1%} → {s:.1%}: " + why
        rows.append({"arm": a.name, "share": float(s), "target": float(goal), "share_before": before,
                     "p_best": float(p),
                     "estimate": float(m), "interval": [float(l), float(h)], "why": why})
    return {"posterior": kind, "floor": floor, "max_change": max_change, "arms": rows}


def read_arms(path: Path, kind: str = "rate") -> list[Arm]:
    """An arms file: `arm, clicks, conversions[, share]` (rows of one arm are added up), or for `roi`
    one row per arm and day, `arm, roi[, share]`. A bad value stops with its line and column."""
    with open_csv(path) as handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        need = ("arm", "clicks", "conversions") if kind == "rate" else ("arm", "roi")
        missing = [c for c in need if c not in header]
        if missing:
            raise InputError(f"{path}: no column {missing[0]!r}; --posterior {kind} reads {', '.join(need)} "
                             "(and optionally share)")
        rows: dict[str, dict] = {}
        for row in reader:
            name = (row.get("arm") or "").strip()
            if not name:
                raise InputError(f"{path}:{reader.line_num}: arm: empty")
            values = {}
            for col in [c for c in need[1:] + ("share",) if c in header and (row.get(c) or "").strip()]:
                try:
                    values[col] = float(row[col])
                except ValueError:
                    raise InputError(f"{path}:{reader.line_num}: {col}: not a number: {row[col]!r}") from None
            r = rows.setdefault(name, {"clicks": 0.0, "conversions": 0.0, "roi": [], "share": None})
            r["clicks"] += values.get("clicks", 0.0)
            r["conversions"] += values.get("conversions", 0.0)
            if "roi" in values:
                r["roi"].append(values["roi"])
            r["share"] = values.get("share", r["share"])
    return [Arm(n, r["clicks"], r["conversions"], tuple(r["roi"]), r["share"]) for n, r in rows.items()]
