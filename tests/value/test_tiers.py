"""Tier rules: the shipped file at its 30/60/90-day and AOV-800 boundaries, file order, bad files."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pytest

from flywheel.value.tiers import TierFileError, assign_tiers, load_tiers
from flywheel.config import Settings
from flywheel.value.traits import compute_traits
from flywheel.warehouse import Warehouse, account_persons

AS_OF = dt.datetime(2025, 1, 31, tzinfo=dt.timezone.utc)
DAY = dt.timedelta(days=1)
SECOND = dt.timedelta(seconds=1)

# account → [(time before AS_OF, yuan, status)]
ORDERS = {
    "diamond_3_in_30d": [(1 * DAY, 900, "paid"), (10 * DAY, 900, "completed"), (30 * DAY - SECOND, 900, "shipped")],
    "third_exactly_30d_ago": [(1 * DAY, 900, "paid"), (10 * DAY, 900, "paid"), (30 * DAY, 900, "paid")],
    "aov_exactly_800": [(1 * DAY, 800, "paid"), (2 * DAY, 800, "paid"), (3 * DAY, 800, "paid")],
    "aov_800_01": [(1 * DAY, 800.01, "paid"), (2 * DAY, 800.01, "paid"), (3 * DAY, 800.01, "paid")],
    "one_just_inside_60d": [(60 * DAY - SECOND, 100, "completed")],
    "one_exactly_60d_ago": [(60 * DAY, 100, "completed")],
    "two_in_60d": [(5 * DAY, 100, "completed"), (50 * DAY, 100, "completed")],
    "one_just_inside_90d": [(90 * DAY - SECOND, 100, "completed")],
    "one_exactly_90d_ago": [(90 * DAY, 100, "completed")],
    "two_between_60_and_90d": [(70 * DAY, 100, "completed"), (80 * DAY, 100, "completed")],
    "refunded_recently": [(3 * DAY, 100, "refunded")],
    "cancelled_only": [(3 * DAY, 100, "cancelled"), (4 * DAY, 100, "pending")],
    "only_after_as_of": [(-1 * DAY, 5000, "paid")],
    "old_buyer": [(400 * DAY, 100, "completed")],
}
EXPECTED = {
    # three orders in 60 days but only two in the last 30: none of the design's four tiers fits
    "diamond_3_in_30d": "diamond", "third_exactly_30d_ago": "other", "aov_exactly_800": "other",
    "aov_800_01": "diamond", "one_just_inside_60d": "gold", "one_exactly_60d_ago": "silver",
    "two_in_60d": "gold", "one_just_inside_90d": "silver", "one_exactly_90d_ago": "churn-warning",
    "two_between_60_and_90d": "other", "refunded_recently": "gold", "cancelled_only": "prospect",
    "only_after_as_of": "prospect", "old_buyer": "churn-warning", "browser_without_orders": "prospect",
}


def load_hand_built(wh) -> None:
    keys = list(ORDERS) + ["browser_without_orders"]
    wh.append("accounts", pa.table({"source": ["shopify"] * len(keys), "account_key": keys}))
    rows = [(key, f"{key}-{n}", status, AS_OF - ago, round(yuan * 100))
            for key, orders in ORDERS.items() for n, (ago, yuan, status) in enumerate(orders)]
    key, order_id, status, created, cents = (list(c) for c in zip(*rows))
    wh.append("orders", pa.table({"source": ["shopify"] * len(rows), "order_id": order_id, "account_key": key,
                                  "status": status, "created_at": pa.array(created, pa.timestamp("us", "UTC")),
                                  "paid_cents": pa.array(cents, pa.int64())}))


@pytest.fixture(scope="module")
def traits_wh(tmp_path_factory):
    """One warehouse of hand-built orders whose traits are computed once for the module."""
    root = tmp_path_factory.mktemp("tiers")
    with Warehouse.open(Settings(db_path=root / "w.duckdb", key_file=root / "key")) as wh:
        load_hand_built(wh)
        compute_traits(wh, AS_OF)
        yield wh


def names(wh) -> dict[str, str]:
    """Each stand-in person id back to the account key that names the case."""
    return {r["person_id"]: r["account_key"] for r in wh.fetch(account_persons(wh)).to_pylist()}


def tiers_of(wh, rules=None) -> dict[str, str]:
    got = wh.fetch(assign_tiers(wh.table("person_traits"), rules or load_tiers())).to_pylist()
    name = names(wh)
    return {name[r["person_id"]]: r["tier"] for r in got}


def test_default_tiers_at_the_boundaries(traits_wh):
    assert tiers_of(traits_wh) == EXPECTED


def test_every_person_gets_exactly_one_tier_and_file_order_wins(traits_wh, tmp_path):
    path = tmp_path / "tiers.yaml"
    path.write_text("tiers:\n"
                    "  - {name: any_buyer, all: ['orders >= 1']}\n"
                    "  - {name: diamond, all: ['orders_30d >= 3', 'aov > 800']}\n"
                    "  - {name: rest, catch_all: true}\n")
    got = tiers_of(traits_wh, load_tiers(path))
    assert len(got) == len(EXPECTED)
    assert got["diamond_3_in_30d"] == "any_buyer"  # the earlier rule takes the overlap
    assert got["browser_without_orders"] == "rest" and got["cancelled_only"] == "rest"


def test_text_and_flag_conditions(traits_wh, tmp_path):
    path = tmp_path / "tiers.yaml"
    path.write_text("tiers:\n"
                    "  - {name: lapsing, all: ['lifecycle_stage == \"lapsed\"']}\n"
                    "  - {name: repeat, all: ['is_repeat_buyer == true']}\n"
                    "  - {name: rest, catch_all: true}\n")
    got = tiers_of(traits_wh, load_tiers(path))
    assert got["old_buyer"] == "lapsing" and got["two_in_60d"] == "repeat" and got["one_exactly_60d_ago"] == "rest"


@pytest.mark.parametrize("body, message", [
    ("tiers:\n  - {name: a, all: ['orderz_30d >= 3']}\n  - {name: b, catch_all: true}\n",
     "tier 1 ('a'), condition 1 'orderz_30d >= 3': unknown trait 'orderz_30d'"),
    ("tiers:\n  - {name: a, all: ['orders_30d => 3']}\n  - {name: b, catch_all: true}\n",
     "tier 1 ('a'), condition 1 'orders_30d => 3': expected '<trait> <op> <value>'"),
    ("tiers:\n  - {name: a, all: ['orders_30d >= three']}\n  - {name: b, catch_all: true}\n",
     "trait 'orders_30d' is a number, value 'three' does not compare"),
    ("tiers:\n  - {name: a, all: ['first_order_at > 3']}\n  - {name: b, catch_all: true}\n",
     "trait 'first_order_at' is a time"),
    ("tiers:\n  - {name: a, all: ['orders >= 1']}\n", "the last tier ('a') must be 'catch_all: true'"),
    ("tiers:\n  - {name: a, catch_all: true}\n  - {name: b, all: ['orders >= 1']}\n",
     "tier 1 ('a'): field 'catch_all' is only allowed on the last tier"),
    ("tiers:\n  - {name: a, all: ['orders >= 1']}\n  - {name: a, catch_all: true}\n",
     "tier 2 ('a'): field 'name' repeats an earlier tier"),
    ("tiers:\n  - {all: ['orders >= 1']}\n", "tier 1: field 'name' is missing"),
    ("tiers:\n  - {name: a, when: ['orders >= 1']}\n", "tier 1 ('a'): unknown field(s) when"),
    ("tiers:\n  - {name: a, all: []}\n  - {name: b, catch_all: true}\n", "tier 1 ('a'): field 'all' must be a non-empty list"),
    ("tiers: [\n", "not valid YAML"),
    ("rules: []\n", "expected a top-level 'tiers:' list"),
])
def test_bad_tier_files_name_the_rule_and_field(tmp_path, body, message):
    path = tmp_path / "bad.yaml"
    path.write_text(body)
    with pytest.raises(TierFileError) as info:
        load_tiers(path)
    assert str(path) in str(info.value) and message in str(info.value)


def test_missing_tier_file_is_a_clear_error(tmp_path):
    with pytest.raises(TierFileError, match="cannot read tier file"):
        load_tiers(tmp_path / "nope.yaml")


def test_windows_and_aov_traits_at_the_boundaries(traits_wh):
    name = names(traits_wh)
    rows = {name[r["person_id"]]: r for r in traits_wh.fetch("person_traits").to_pylist()}
    assert rows["third_exactly_30d_ago"]["orders_30d"] == 2 and rows["third_exactly_30d_ago"]["orders_60d"] == 3
    assert rows["one_exactly_60d_ago"]["orders_60d"] == 0 and rows["one_exactly_60d_ago"]["orders_90d"] == 1
    assert rows["aov_exactly_800"]["aov"] == 800 and rows["aov_800_01"]["aov"] == pytest.approx(800.01)
    assert rows["only_after_as_of"]["orders"] == 0 and rows["cancelled_only"]["orders_placed"] == 2


def test_shipped_file_is_the_design_default():
    rules = load_tiers()
    assert rules.names[:4] == ["diamond", "gold", "silver", "churn-warning"] and rules.tiers[-1].catch_all
    assert Path(rules.source) == Path("default") and len(rules.sha256) == 64
