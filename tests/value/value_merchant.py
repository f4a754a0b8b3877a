"""A small simulated merchant with truth-linked persons, and expected traits computed from truth/.

Identity resolution is another capability; here `person_accounts` is filled from the simulator's own
truth files (every account of a true person placed in that person), so traits can be compared per
true person with values computed independently, in pandas, from `truth/orders.csv`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from flywheel.collect import ingest_paths
from flywheel.config import Settings
from flywheel.simulate import generate
from flywheel.warehouse import Warehouse

GMV = {"paid", "shipped", "completed", "refunded", "partially_refunded"}
TZ = "Asia/Shanghai"


@dataclass
class Merchant:
    data: Path
    settings: Settings
    ambiguous: set[str] = field(default_factory=set)
    """Persons whose orders or events sit on an account shared with another true person."""

    def open(self) -> Warehouse:
        return Warehouse.open(self.settings)


def build_merchant(root: Path, persons: int = 400, seed: int = 3, engine: str = "duckdb",
                   db: Path | None = None) -> Merchant:
    data = root / "data"
    if not data.exists():
        generate(data, persons=persons, seed=seed)
    settings = Settings(db_path=db or root / "w.duckdb", engine=engine, key_file=root / "identifier.key")
    merchant = Merchant(data, settings)
    with merchant.open() as wh:
        ingest_paths(wh, [data])
        merchant.ambiguous = link_truth(wh, data)
    return merchant


def link_truth(wh: Warehouse, data: Path) -> set[str]:
    """Write `person_accounts` from truth; return the persons an account shares with someone else."""
    accounts = wh.fetch(wh.table("accounts").select("source", "account_key")).to_pandas()
    orders = wh.fetch(wh.table("orders").select("source", "order_id", "account_key")).to_pandas()
    truth_orders = pd.read_csv(data / "truth" / "orders.csv", dtype={"order_id": str})
    truth_accounts = pd.read_csv(data / "truth" / "accounts.csv", dtype=str)
    by_order = orders.merge(truth_orders[["source", "order_id", "person_id"]], on=["source", "order_id"])
    by_ref = pd.concat([
        truth_accounts.rename(columns={"account_ref": "account_key"}),
        truth_accounts.assign(account_key="anon:" + truth_accounts["account_ref"]).drop(columns="account_ref"),
    ])
    pairs = pd.concat([by_order[["source", "account_key", "person_id"]], by_ref[["source", "account_key", "person_id"]]])
    pairs = pairs.merge(accounts, on=["source", "account_key"]).drop_duplicates()
    shared = pairs.groupby(["source", "account_key"])["person_id"].transform("nunique") > 1
    ambiguous = set(pairs.loc[shared, "person_id"])
    chosen = pairs.sort_values("person_id").drop_duplicates(["source", "account_key"])
    wh.append("person_accounts", pa.table({
        "source": chosen["source"].to_numpy(), "account_key": chosen["account_key"].to_numpy(),
        "person_id": chosen["person_id"].to_numpy(), "linked_by": np.full(len(chosen), "override"),
    }))
    return ambiguous


def expected_purchases(data: Path, as_of: dt.datetime) -> pd.DataFrame:
    """Per true person, purchase traits computed directly from truth/orders.csv (merchant-local times)."""
    t = pd.read_csv(data / "truth" / "orders.csv", dtype={"order_id": str})
    local = pd.to_datetime(t["created_at"])
    t["at"] = local.dt.tz_localize(TZ).dt.tz_convert("UTC")
    t = t[t["at"] <= pd.Timestamp(as_of)]
    g = t[t["status"].isin(GMV)].copy()
    g["day"] = local[g.index].dt.normalize()
    age = (pd.Timestamp(as_of) - g["at"]).dt.total_seconds() / 86400
    g["in90"], g["in365"] = age < 90, age < 365
    per = g.groupby("person_id")
    out = pd.DataFrame({
        "orders": per.size(),
        "gmv": per["gross"].sum(),
        "refunds": per["refund"].sum(),
        "purchase_days": per["day"].nunique(),
        "first_order_at": per["at"].min(),
        "last_order_at": per["at"].max(),
        "orders_90d": per["in90"].sum(),
        "gmv_365d": g.assign(v=g["gross"].where(g["in365"], 0.0)).groupby("person_id")["v"].sum(),
        "orders_refunded": per["status"].apply(lambda s: s.isin({"refunded", "partially_refunded"}).sum()),
        "orders_jd": per["source"].apply(lambda s: (s == "jd").sum()),
    })
    out["net_value"] = out["gmv"] - out["refunds"]
    days = g.drop_duplicates(["person_id", "day"]).sort_values(["person_id", "day"])
    gaps = days.groupby("person_id")["day"].diff().dt.days
    out["mean_interpurchase_days"] = gaps.groupby(days["person_id"]).mean()
    out["last_interpurchase_days"] = gaps.groupby(days["person_id"]).last()
    out["recency_days"] = (pd.Timestamp(as_of) - out["last_order_at"]).dt.total_seconds() / 86400
    out["days_since_first_order"] = (pd.Timestamp(as_of) - out["first_order_at"]).dt.total_seconds() / 86400
    return out


def expected_stage(row) -> str:
    """Lifecycle stage by the rules of docs/traits.md, written again independently."""
    if row.orders == 0 or pd.isna(row.orders):
        return "prospect"
    if row.days_since_first_order <= 30:
        return "new"
    gap = 0 if pd.isna(row.last_interpurchase_days) else row.last_interpurchase_days
    if row.recency_days <= 90:
        return "won-back" if gap > 180 else "active"
    return "at-risk" if row.recency_days <= 180 else "lapsed"


def copy_merchant(merchant: Merchant, root: Path) -> Merchant:
    """An independent copy of a built merchant's warehouse (runs written to it stay there)."""
    import shutil

    root.mkdir(parents=True, exist_ok=True)
    db = root / "w.duckdb"
    shutil.copyfile(merchant.settings.db_path, db)
    settings = Settings(db_path=db, engine="duckdb", key_file=merchant.settings.key_file)
    return Merchant(merchant.data, settings, set(merchant.ambiguous))


_BUILT: list[Merchant] = []


@pytest.fixture(scope="session")
def simulated_merchant(tmp_path_factory) -> Merchant:
    """One 400-person merchant per test run, truth-linked; copy it before writing to it.

    Test modules import this fixture, and pytest then keeps one instance per module; the list
    above makes them share the one build."""
    if not _BUILT:
        _BUILT.append(build_merchant(tmp_path_factory.mktemp("merchant")))
    return _BUILT[0]
