"""Attribution models over aggregated paths: the rule-based ones, Shapley values, and the entry point
that runs any of them (Markov chains are in `markov.py`).

Rule-based models give each converting path's conversions (and value) to its touches by a fixed
rule; they say nothing about what would have happened without a channel. Shapley values share each
channel set's conversions fairly among its channels; Markov removal effects ask how many
conversions the chain loses without the channel. None of them measures incrementality: a channel
that only catches persons who would have bought anyway still gets credit (docs/measurement.md).
"""

from __future__ import annotations

import math
from collections import defaultdict
from decimal import ROUND_HALF_EVEN, Decimal

from flywheel.errors import InputError
from flywheel.measure.markov import MarkovModel
from flywheel.measure.paths import Paths

MODELS = ("first", "last", "last_non_direct", "linear", "time_decay", "position", "markov", "shapley",
          "shapley_exact")
DIRECT = "direct"
EXACT_SHAPLEY_MAX = 12
"""Channels the exact Shapley value enumerates coalitions for (2^12 = 4,096)."""
POSITION_ENDS = 0.4


def touch_weights(model: str, touches: tuple[str, ...], half_life_touches: float = 1.0) -> list[float]:
    """Each touch's share of a path's conversions under a rule-based model (sums to 1)."""
    n = len(touches)
    if model == "first":
        return [1.0] + [0.0] * (n - 1)
    if model == "last":
        return [0.0] * (n - 1) + [1.0]
    if model == "last_non_direct":
        chosen = next((i for i in range(n - 1, -1, -1) if touches[i].lower() != DIRECT), n - 1)
        return [1.0 if i == chosen else 0.0 for i in range(n)]
    if model == "linear":
        return [1.0 / n] * n
    if model == "time_decay":
        raw = [2.0 ** (-(n - 1 - i) / half_life_touches) for i in range(n)]
        total = sum(raw)
        return [w / total for w in raw]
    if model == "position":
        if n == 1:
            return [1.0]
        if n == 2:
            return [0.5, 0.5]
        middle = (1.0 - 2 * POSITION_ENDS) / (n - 2)
        return [POSITION_ENDS] + [middle] * (n - 2) + [POSITION_ENDS]
    raise ValueError(model)


def rule_based(paths: Paths, model: str) -> tuple[dict[str, float], dict[str, Decimal]]:
    credits: dict[str, float] = defaultdict(float)
    values: dict[str, Decimal] = defaultdict(Decimal)
    for touches, conv, value in zip(paths.touches, paths.conversions, paths.values):
        if conv <= 0 and value == 0:
            continue
        for c, w in zip(touches, touch_weights(model, touches)):
            credits[c] += conv * w
            values[c] += value * Decimal(repr(w))
    return dict(credits), dict(values)


def _by_set(paths: Paths) -> tuple[list[str], dict[int, float], dict[int, Decimal]]:
    """Conversions and value per distinct channel set (a bit mask over the sorted channels)."""
    channels = paths.channels
    bit = {c: 1 << i for i, c in enumerate(channels)}
    conv: dict[int, float] = defaultdict(float)
    value: dict[int, Decimal] = defaultdict(Decimal)
    for touches, n, v in zip(paths.touches, paths.conversions, paths.values):
        mask = 0
        for c in touches:
            mask |= bit[c]
        conv[mask] += n
        value[mask] += v
    return channels, conv, value


def shapley_simplified(paths: Paths) -> tuple[dict[str, float], dict[str, Decimal]]:
    """Zhao et al. (2018): with a coalition worth the conversions of every path whose channel set
    lies inside it, channel j's Shapley value is Σ over sets S ∋ j of conversions(S) / |S|."""
    channels, conv, value = _by_set(paths)
    credits = {c: 0.0 for c in channels}
    values = {c: Decimal(0) for c in channels}
    for mask, n in conv.items():
        members = [c for i, c in enumerate(channels) if mask >> i & 1]
        for c in members:
            credits[c] += n / len(members)
            values[c] += value[mask] / len(members)
    return credits, values


def shapley_exact(paths: Paths) -> tuple[dict[str, float], dict[str, Decimal]]:
    """The Shapley value by its definition, over all 2^n coalitions (n ≤ 12 channels), with the
    same coalition worth as `shapley_simplified`; the two agree (the tests check it)."""
    channels, conv, value = _by_set(paths)
    n = len(channels)
    if n > EXACT_SHAPLEY_MAX:
        raise InputError(f"the exact Shapley value enumerates 2^n coalitions: at most {EXACT_SHAPLEY_MAX} channels, "
                         f"these paths have {n}; use --model shapley (the closed form, any number)")
    size = 1 << n
    worth = [0.0] * size
    worth_value = [Decimal(0)] * size
    for mask, c in conv.items():
        worth[mask] += c
        worth_value[mask] += value[mask]
    for i in range(n):  # worth(S) = Σ over subsets T ⊆ S
        step = 1 << i
        for mask in range(size):
            if mask & step:
                worth[mask] += worth[mask ^ step]
                worth_value[mask] += worth_value[mask ^ step]
    weight = [math.factorial(s) * math.factorial(n - s - 1) / math.factorial(n) for s in range(n)]
    credits = {c: 0.0 for c in channels}
    values = {c: Decimal(0) for c in channels}
    for j, c in enumerate(channels):
        step = 1 << j
        for mask in range(size):
            if mask & step:
                continue
            w = weight[bin(mask).count("1")]
            credits[c] += w * (worth[mask | step] - worth[mask])
            values[c] += Decimal(repr(w)) * (worth_value[mask | step] - worth_value[mask])
    return credits, values


def attribute(paths: Paths, model: str, order: int = 1) -> dict:
    """Run one model; the result has the path-file command's JSON shape."""
    if model not in MODELS:
        raise InputError(f"unknown model {model!r}; one of {', '.join(MODELS)}")
    if not paths.touches:
        raise InputError("no usable path: every row was rejected or the file is empty")
    total = paths.total_conversions
    walkers = total + sum(paths.nulls)
    probability = total / walkers if paths.has_nulls and walkers > 0 else None
    effects: dict[str, float] = {}
    if model == "markov":
        m = MarkovModel(order).fit(paths)
        credits, values, effects = m.credits_, m.value_credits_, m.removal_effects_
        probability = m.conversion_probability_
    elif model == "shapley":
        credits, values = shapley_simplified(paths)
    elif model == "shapley_exact":
        credits, values = shapley_exact(paths)
    else:
        credits, values = rule_based(paths, model)
    channels = paths.channels
    return {
        "model": model,
        "order": order if model == "markov" else None,
        "conversion_probability": probability,
        "credits": {c: round(credits.get(c, 0.0), 6) for c in channels},
        "value_credits": {c: float(_cents(values.get(c, Decimal(0)))) for c in channels} if paths.has_values else {},
        "removal_effects": {c: round(effects[c], 6) for c in channels} if effects else {},
        "total_conversions": total,
        "total_value": float(_cents(paths.total_value)) if paths.has_values else None,
        "paths": len(paths.touches),
        "channels": len(channels),
        "rejected": [r.as_dict() for r in paths.rejected],
    }


def _cents(amount: Decimal) -> Decimal:
    return amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)

