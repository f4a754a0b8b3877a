"""CDNOW data from the `lifetimes` test dependency, and a BG/NBD simulator with known parameters."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest


def _datasets() -> Path:
    spec = importlib.util.find_spec("lifetimes")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("lifetimes (test dependency carrying the CDNOW data) is not installed")
    return Path(spec.submodule_search_locations[0]) / "datasets"


@pytest.fixture(scope="session")
def cdnow_transactions() -> pd.DataFrame:
    """The 2,357-customer CDNOW sample: one row per purchase, `id` 1..2357."""
    frame = pd.read_csv(_datasets() / "CDNOW_sample.txt", sep=r"\s+", header=None,
                        names=["master_id", "id", "date", "cds", "amount"], dtype={"date": str})
    frame["date"] = pd.to_datetime(frame["date"], format="%Y%m%d")
    return frame


@pytest.fixture(scope="session")
def cdnow_summary() -> pd.DataFrame:
    """The published 39-week summary (recency and T rounded to 2 decimals), with mean repeat spend."""
    frame = pd.read_csv(_datasets() / "cdnow_customers_summary_with_transactions.csv")
    return frame.rename(columns={"x": "frequency", "t_x": "recency", "zbar": "monetary_value"})


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
