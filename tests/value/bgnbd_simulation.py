"""Customers simulated from the BG/NBD process, for recovery and prediction tests."""

import numpy as np


def simulate_bgnbd(n: int, r: float, alpha: float, a: float, b: float, seed: int = 1,
                   t_low: float = 26.0, t_high: float = 104.0, holdout: float = 0.0):
    """BG/NBD customers: gamma(r, rate alpha) purchase rates, beta(a, b) drop-out after each purchase.

    Returns frequency, recency, T and the number of purchases in (T, T + holdout].
    """
    rng = np.random.default_rng(seed)
    lam = rng.gamma(r, 1.0 / alpha, n)
    p = rng.beta(a, b, n)
    big_t = np.round(rng.uniform(t_low, t_high, n) * 7) / 7  # whole days, as real summaries are
    x = np.zeros(n)
    t_x = np.zeros(n)
    later = np.zeros(n)
    now = np.zeros(n)
    active = np.ones(n, dtype=bool)
    while active.any():
        now[active] += rng.exponential(1.0 / lam[active])
        inside = active & (now <= big_t)
        after = active & (now > big_t) & (now <= big_t + holdout)
        x[inside] += 1
        t_x[inside] = np.floor(now[inside] * 7) / 7
        later[after] += 1
        active = (inside | after) & (rng.random(n) >= p)
    return x, t_x, big_t, later
