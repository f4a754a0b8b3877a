"""Customers drawn from each model's own generative story, for recovery tests and benchmarks.

Every simulator returns what a real summary holds: `frequency` (repeat purchases), `recency` and `T`
in periods, rounded down to whole days as `summary_from_transactions` produces them (`days_per_period`
is 7 for weekly summaries), plus the purchases the same customer makes in a holdout after `T`.

Example:
    x, t_x, big_t, later = simulate_pareto_nbd(100_000, r=0.55, alpha=10.6, s=0.61, beta=11.7)
    ParetoNBDModel().fit(x, t_x, big_t).params_   # close to the parameters above
"""

from __future__ import annotations

import numpy as np


def _cohort(rng: np.random.Generator, n: int, t_low: float, t_high: float, days_per_period: float) -> np.ndarray:
    """T for a cohort whose first purchases are spread evenly over time, in whole days."""
    return np.round(rng.uniform(t_low, t_high, n) * days_per_period) / days_per_period


def _whole_days(t: np.ndarray, days_per_period: float) -> np.ndarray:
    return np.floor(t * days_per_period) / days_per_period


def simulate_pareto_nbd(n: int, r: float, alpha: float, s: float, beta: float, seed: int = 1,
                        t_low: float = 26.0, t_high: float = 104.0, holdout: float = 0.0,
                        days_per_period: float = 7.0):
    """Pareto/NBD: Poisson purchases at gamma(r, alpha) rates until an exponential death at gamma(s, beta) rates.

    Given the rate and the time alive inside (0, T], the purchase count is Poisson and the last
    purchase is the largest of that many uniform times, so no purchase-by-purchase loop is needed.
    """
    rng = np.random.default_rng(seed)
    lam = rng.gamma(r, 1.0 / alpha, n)
    mu = rng.gamma(s, 1.0 / beta, n)
    death = rng.exponential(1.0 / np.maximum(mu, 1e-300))
    big_t = _cohort(rng, n, t_low, t_high, days_per_period)
    alive_for = np.minimum(death, big_t)
    x = rng.poisson(lam * alive_for).astype(float)
    with np.errstate(divide="ignore"):
        last = alive_for * rng.random(n) ** (1.0 / np.maximum(x, 1.0))
    t_x = np.where(x > 0, _whole_days(last, days_per_period), 0.0)
    later = rng.poisson(lam * np.clip(np.minimum(death, big_t + holdout) - big_t, 0.0, None)).astype(float)
    return x, t_x, big_t, later


def simulate_bgnbd(n: int, r: float, alpha: float, a: float, b: float, seed: int = 1,
                   t_low: float = 26.0, t_high: float = 104.0, holdout: float = 0.0,
                   days_per_period: float = 7.0, drop_at_first: bool = False):
    """BG/NBD (MBG/NBD with `drop_at_first`): gamma(r, alpha) rates, beta(a, b) drop-out after each purchase."""
    rng = np.random.default_rng(seed)
    lam = rng.gamma(r, 1.0 / alpha, n)
    p = rng.beta(a, b, n)
    big_t = _cohort(rng, n, t_low, t_high, days_per_period)
    x, t_x, later, now = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n)
    active = rng.random(n) >= p if drop_at_first else np.ones(n, dtype=bool)
    while active.any():
        idx = np.flatnonzero(active)
        now[idx] += rng.exponential(1.0 / lam[idx])
        inside = now[idx] <= big_t[idx]
        after = ~inside & (now[idx] <= big_t[idx] + holdout)
        x[idx[inside]] += 1
        t_x[idx[inside]] = _whole_days(now[idx[inside]], days_per_period)
        later[idx[after]] += 1
        active[idx] = (inside | after) & (rng.random(len(idx)) >= p[idx])
    return x, t_x, big_t, later


def simulate_gamma_gamma(frequency, p: float, q: float, v: float, seed: int = 1) -> np.ndarray:
    """Mean spend of `frequency` repeat purchases: each gamma(p, nu), nu drawn gamma(q, v) per customer.

    The mean of x gamma(p, nu) values is gamma(p x, nu x), drawn directly.
    """
    rng = np.random.default_rng(seed)
    x = np.asarray(frequency, dtype=float)
    nu = rng.gamma(q, 1.0 / v, len(x))
    spend = np.zeros(len(x))
    repeat = x > 0
    spend[repeat] = rng.gamma(p * x[repeat], 1.0 / (nu[repeat] * x[repeat]))
    return spend
