"""The deterministic graph gives identical persons, ids and refusals on DuckDB and Spark."""

from __future__ import annotations

import pytest
from identity_world import World, persons_of

from flywheel.identity import resolve


def _scenario(wh) -> None:
    w = World(wh)
    w.account("web", "u1", user_id="u1", anonymous_id=["a1", "kiosk"], phone="13912340001")
    w.account("taobao", "tb_1", phone="13912340001")
    w.account("wecom", "wm1", wechat_unionid="un1", phone="13912340001")
    w.account("miniprogram", "u1m", wechat_unionid="un1", anonymous_id="mp1")
    w.account("web", "anon:a1", anonymous_id="a1")
    w.account("web", "mum", user_id="mum", anonymous_id=["ipad", "kiosk"])
    w.account("web", "kid", user_id="kid", anonymous_id=["ipad", "kiosk"])
    for i in range(4):
        w.account("web", f"k{i}", user_id=f"k{i}", anonymous_id="kiosk")
    for i in range(3):
        w.account("jd", f"pin_{i}", phone=[f"1371111000{i}", "13957188888"])
    w.land()
    resolve(wh, matcher=None)
    w.account("shopify", "bridge", email="x@mail.cn", phone=["13712340002", "13711110001"])
    w.account("douyin", "d9", phone="13712340002")
    w.land()
    resolve(wh, matcher=None)


def _refusals(wh) -> set:
    return {(r["id_type"], r["id_masked"], r["reason"], r["persons"])
            for r in wh.fetch("identity_refusals").to_pylist()}


@pytest.mark.spark
def test_identical_persons_on_duckdb_and_spark(warehouse, spark_warehouse):
    _scenario(warehouse)
    _scenario(spark_warehouse)
    duck, spark = persons_of(warehouse), persons_of(spark_warehouse)
    assert duck == spark
    assert len(set(duck.values())) < len(duck)
    assert _refusals(warehouse) == _refusals(spark_warehouse)
    assert {r["reason"] for r in warehouse.fetch("identity_refusals").to_pylist()} >= {"limit", "high_degree"}
