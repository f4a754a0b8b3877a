"""Markov-chain attribution of order k with exact removal effects.

Each visit is a state: the last k channels of the path so far (consecutive repeats collapsed).
Every path starts at `(start)` and ends in `(conversion)` for its conversions and in `(null)` for its
nulls; transition probabilities are the observed transition counts, normalised per state. The
probability of converting from `(start)` is the absorbing chain's solution of (I − Q) x = r, not a
simulation. Removing a channel sends every visit to it to `(null)`; its removal effect is the share
of that probability lost, and the model's credits split the total conversions (and value) in
proportion to the removal effects.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

import numpy as np
from scipy.sparse import csr_matrix, diags, identity
from scipy.sparse.linalg import spsolve

from flywheel.measure.paths import Paths, collapse

START = "(start)"
CONVERSION = "(conversion)"
NULL = "(null)"


class MarkovModel:
    """`MarkovModel(order=2).fit(paths)`; then `credits_`, `value_credits_`, `removal_effects_`,
    `conversion_probability_`, and `states_` (the k-gram of every transient state, `(start)` first)."""

    def __init__(self, order: int = 1):
        if int(order) != order or order < 1:
            raise ValueError(f"order must be a whole number, 1 or more; got {order!r}")
        self.order = int(order)

    def fit(self, paths: Paths) -> MarkovModel:
        k = self.order
        ids: dict[tuple[str, ...], int] = {(START,): 0}
        edges: dict[tuple[int, int], float] = defaultdict(float)
        to_conversion: dict[int, float] = defaultdict(float)
        to_null: dict[int, float] = defaultdict(float)
        for touches, conv, nulls in zip(paths.touches, paths.conversions, paths.nulls):
            walkers = conv + nulls
            if walkers <= 0:
                continue
            seq = collapse(touches)
            here = 0
            for i in range(len(seq)):
                state = seq[max(0, i - k + 1): i + 1]
                there = ids.setdefault(state, len(ids))
                edges[(here, there)] += walkers
                here = there
            to_conversion[here] += conv
            to_null[here] += nulls
        n = len(ids)
        self.states_ = [s for s, _ in sorted(ids.items(), key=lambda kv: kv[1])]
        out = np.zeros(n)
        for (a, _), w in edges.items():
            out[a] += w
        for a, w in to_conversion.items():
            out[a] += w
        for a, w in to_null.items():
            out[a] += w
        safe = np.where(out > 0, out, 1.0)
        rows = np.fromiter((a for a, _ in edges), int, len(edges))
        cols = np.fromiter((b for _, b in edges), int, len(edges))
        weights = np.fromiter(edges.values(), float, len(edges))
        self.q_ = csr_matrix((weights / safe[rows], (rows, cols)), shape=(n, n))
        self.r_ = np.zeros(n)
        for a, w in to_conversion.items():
            self.r_[a] = w / safe[a]
        self.channels_ = sorted({s[-1] for s in self.states_[1:]})
        self.conversion_probability_ = self._absorb(np.ones(n, bool))
        effects = {}
        last = np.array([s[-1] for s in self.states_], dtype=object)
        for c in self.channels_:
            kept = last != c
            p = self._absorb(kept)
            effects[c] = 1.0 - p / self.conversion_probability_ if self.conversion_probability_ > 0 else 0.0
        self.removal_effects_ = effects
        total = sum(effects.values())
        shares = {c: (e / total if total > 0 else 0.0) for c, e in effects.items()}
        self.shares_ = shares
        self.credits_ = {c: paths.total_conversions * s for c, s in shares.items()}
        value = paths.total_value
        self.value_credits_ = {c: value * Decimal(repr(s)) for c, s in shares.items()} if paths.has_values else {}
        return self

    def _absorb(self, kept: np.ndarray) -> float:
        """P(conversion) from `(start)` when the states not `kept` lead to `(null)`."""
        keep = diags(kept.astype(float))
        a = (identity(len(kept), format="csr") - keep @ self.q_).tocsc()
        x = spsolve(a, self.r_ * kept)
        return float(np.atleast_1d(x)[0])

    def transition_probabilities(self) -> dict[tuple[str, str], float]:
        """`(from, to)` → probability, states written `a > b` (for inspection and the tests)."""
        names = [" > ".join(s) for s in self.states_]
        found = {}
        q = self.q_.tocoo()
        for a, b, p in zip(q.row, q.col, q.data):
            found[(names[a], names[b])] = float(p)
        for a, p in enumerate(self.r_):
            if p > 0:
                found[(names[a], CONVERSION)] = float(p)
        exits = 1.0 - np.asarray(self.q_.sum(axis=1)).ravel() - self.r_
        for a, p in enumerate(exits):
            if p > 1e-15:
                found[(names[a], NULL)] = float(p)
        return found
