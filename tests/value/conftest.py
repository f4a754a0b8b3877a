"""CDNOW data from the `lifetimes` test dependency, and a BG/NBD simulator with known parameters."""

from __future__ import annotations

import importlib.util
from pathlib import Path

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
