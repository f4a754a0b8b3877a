"""Names are stored sealed: never in clear in a table or the file, equal names still match by key,
only the warehouse's master key opens them, and deleting an account's salt makes them unreadable."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from flywheel.warehouse import Warehouse

NOW = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)


def _accounts(names: dict[str, str]) -> pa.Table:
    return pa.table({"source": ["wecom"] * len(names), "account_key": list(names), "name": list(names.values()),
                     "first_seen_at": [NOW] * len(names)})


def test_names_are_sealed_at_rest_and_open_only_with_the_key(warehouse):
    warehouse.append("accounts", _accounts({"wm1": "Zhang Wei", "wm2": "zhangwei", "wm3": "李娜"}))
    stored = {r["account_key"]: r for r in warehouse.fetch("accounts").to_pylist()}
    assert all(r["name"].startswith("sealed:v1:") for r in stored.values())
    assert stored["wm1"]["name_key"] == stored["wm2"]["name_key"] != stored["wm3"]["name_key"]
    opened = warehouse.sealer.unseal("accounts", warehouse.fetch("accounts"))
    assert sorted(opened.column("name").to_pylist()) == ["Zhang Wei", "zhangwei", "李娜"]
    ordered = warehouse.fetch(warehouse.table("accounts").order_by("account_key"))
    swapped = ordered.set_column(1, "account_key", pa.array(["wm2", "wm1", "wm3"]))
    assert warehouse.sealer.unseal("accounts", swapped).column("name").to_pylist() == [None, None, "李娜"]


def test_the_file_never_holds_a_name_in_clear(tmp_path):
    with Warehouse.open() as wh:
        wh.append("accounts", _accounts({f"wm{i}": f"Customer Name Number {i:04d}" for i in range(300)}))
        wh.con.raw_sql("FORCE CHECKPOINT")
        path = wh.settings.db_path
    assert b"Customer Name Number" not in path.read_bytes()


def test_deleting_an_accounts_salt_shreds_its_names(warehouse):
    warehouse.append("accounts", _accounts({"wm1": "王小明", "wm2": "李娜"}))
    keys = warehouse.table("account_keys")
    warehouse.replace("account_keys", keys.filter(keys.account_key != "wm1"))
    fresh = Warehouse(warehouse.con, warehouse.engine, warehouse.settings)  # no cached salts
    opened = {r["account_key"]: r["name"] for r in fresh.sealer.unseal("accounts", fresh.fetch("accounts")).to_pylist()}
    assert opened == {"wm1": None, "wm2": "李娜"}


def test_a_v2_warehouse_has_its_clear_names_sealed_by_migration():
    with Warehouse.open() as wh:
        clear = wh.conform("accounts", _accounts({"wm1": "王小明"}))
        wh.con.insert("accounts", clear)  # as a v2 Flywheel stored it
        versions = wh.con.table("schema_version")
        wh.con.create_table("schema_version", versions.filter(versions.version < 3), overwrite=True)
        assert wh.fetch("accounts").column("name").to_pylist() == ["王小明"]
    with Warehouse.open() as wh:
        row = wh.fetch("accounts").to_pylist()[0]
        assert row["name"].startswith("sealed:v1:") and row["name_key"]
        assert wh.sealer.unseal("accounts", wh.fetch("accounts")).column("name").to_pylist() == ["王小明"]
