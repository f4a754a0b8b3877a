"""The warehouse primitives an incremental segment refresh rests on, on DuckDB and Spark: work tables,
deleting matching rows, and the person of a few accounts."""

from __future__ import annotations

import datetime as dt

import ibis
import pyarrow as pa
import pytest

from flywheel.warehouse import account_persons

NOW = dt.datetime(2025, 6, 1, tzinfo=dt.timezone.utc)


@pytest.fixture(params=["duckdb", pytest.param("spark", marks=[pytest.mark.spark, pytest.mark.slow])])
def wh(request):
    if request.param == "duckdb":
        return request.getfixturevalue("warehouse")
    return request.getfixturevalue("spark_warehouse")


def _accounts(wh) -> None:
    wh.append("accounts", pa.Table.from_pylist([{"source": s, "account_key": k} for s, k in (
        ("web", "u1"), ("web", "u2"), ("jd", "u1"), ("web", "lonely"), ("jd", "alone"))]))
    wh.append("person_accounts", pa.Table.from_pylist([
        {"source": "web", "account_key": "u1", "person_id": "p1", "linked_at": NOW},
        {"source": "jd", "account_key": "u1", "person_id": "p1", "linked_at": NOW},
        {"source": "web", "account_key": "u2", "person_id": "p2", "linked_at": NOW}]))


def test_the_persons_of_a_few_accounts_are_those_of_every_account(wh):
    _accounts(wh)
    everyone = {(r["source"], r["account_key"]): r["person_id"] for r in wh.fetch(account_persons(wh)).to_pylist()}
    keys = ibis.memtable([{"source": "web", "account_key": "u1"}, {"source": "web", "account_key": "u1"},
                          {"source": "jd", "account_key": "alone"}, {"source": "web", "account_key": "u2"},
                          {"source": "web", "account_key": "nobody"},  # no such account: no person
                          {"source": "jd", "account_key": "u2"}])  # a key of another source's account
    found = wh.fetch(account_persons(wh, keys, flag=True)).to_pylist()
    assert {(r["source"], r["account_key"]): r["person_id"] for r in found} == {
        k: everyone[k] for k in (("web", "u1"), ("jd", "alone"), ("web", "u2"))}
    assert len(found) == 3
    assert {r["account_key"]: r["placed"] for r in found} == {"u1": True, "alone": False, "u2": True}
    assert everyone[("jd", "alone")].startswith("a") and everyone[("web", "lonely")] != everyone[("jd", "alone")]


def test_delete_matching_removes_exactly_the_rows_named(wh):
    rows = [{"segment": s, "person_id": p, "entered_at": NOW, "refresh_id": "r"}
            for s, p in (("vip", "p1"), ("vip", "p2"), ("lapsed", "p1"), ("lapsed", "p3"))]
    wh.append("segment_members", pa.Table.from_pylist(rows))
    gone = ibis.memtable([{"segment": "vip", "person_id": "p1"}, {"segment": "lapsed", "person_id": "p9"}])
    wh.delete_matching("segment_members", gone, ["segment", "person_id"])
    left = {(r["segment"], r["person_id"]) for r in wh.fetch(wh.table("segment_members")).to_pylist()}
    assert left == {("vip", "p2"), ("lapsed", "p1"), ("lapsed", "p3")}  # p1 stays in the other segment
    wh.delete_matching("segment_members", ibis.memtable({"segment": ["x"], "person_id": ["p2"]}).filter(
        ibis.literal(False)), ["segment", "person_id"])
    assert wh.count("segment_members") == 3


def test_a_work_table_may_be_rebuilt_from_itself_and_keeps_its_expression_schema(wh):
    first = wh.materialize("steps", ibis.memtable({"n": [1, 2, 3], "label": ["a", "b", None]}))
    assert dict(first.schema().items()) == {"n": ibis.dtype("int64"), "label": ibis.dtype("string")}
    again = wh.materialize("steps", first.mutate(n=first.n * 10))
    assert sorted(wh.fetch(again).column("n").to_pylist()) == [10, 20, 30]
    assert again.schema() == wh.con.table("_work_steps").schema()
