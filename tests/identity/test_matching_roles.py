"""Roles normalise raw values; blocking is priced by exact pair counts; clusters name themselves."""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from flywheel.identity.matching.blocking import choose_blocking_rules, count_pairs
from flywheel.identity.matching.clusters import cluster_records
from flywheel.identity.matching.roles import ROLES, comparisons_for


@pytest.mark.parametrize(("role", "raw", "normalised"), [
    ("phone_masked", "138****1234", "138****1234"),
    ("phone_masked", "+86 138-****-1234", "138****1234"),
    ("phone_masked", "(+86) 13812341234", "138****1234"),  # a full phone gives the same evidence
    ("phone_masked", "not a phone", None),
    ("phone", "0086 138 1234 5678", "13812345678"),
    ("phone", "0411 111 111", "0411111111"),
    ("birth_date", "1990-01-02", "19900102"),
    ("full_name", "  Wang   WEI ", "wang wei"),
    ("full_name", "", None),
    ("national_id", "110 105-19900102 123x", "11010519900102123X"),
    ("email", " Ann.Lee@Example.COM ", "ann.lee@example.com"),
])
def test_roles_normalise_raw_values(role, raw, normalised):
    sql = ROLES[role].normalise_sql("raw")
    assert duckdb.connect().execute(f"SELECT {sql} FROM (SELECT ? AS raw)", [raw]).fetchone()[0] == normalised


def test_location_roles_form_one_comparison_finest_first():
    specs = comparisons_for(["full_name", "province", "address_hash", "city"])
    assert [(s.name, s.members) for s in specs] == [
        ("full_name", ("full_name",)), ("location", ("address_hash", "city", "province"))]
    assert [s.name for s in comparisons_for(["city", "postcode"])] == ["city", "postcode"]


def test_blocking_counts_pairs_exactly_and_respects_the_budget():
    con = duckdb.connect()
    # 700 in one province (244,650 pairs: over the 200,000 floor), surnames in groups of 1-3.
    con.execute("CREATE TABLE r AS SELECT i AS unique_id, 'nsw' AS province, "
                "CASE WHEN i < 300 THEN 's' || (i // 3) ELSE 'u' || i END AS last_name, "
                "CASE WHEN i % 2 = 0 THEN 'd' || (i // 2) END AS birth_date FROM range(700) t(i)")
    assert count_pairs(con, "r", ("province",)) == 700 * 699 // 2
    assert count_pairs(con, "r", ("last_name",)) == 100 * 3
    assert count_pairs(con, "r", ("birth_date",)) == 0  # NULLs never agree; every value unique
    rules = choose_blocking_rules(con, "r", ["province", "last_name", "birth_date"], 700)
    assert [(r.roles, r.pairs) for r in rules] == [(("last_name",), 300)]


def test_clusters_are_components_named_by_their_smallest_id():
    ids = pa.array(["c", "a", "d", "b", "e"])
    clusters = cluster_records(ids, np.array([0, 2]), np.array([2, 3]))  # c-d, d-b
    assert clusters.to_pydict() == {"record_id": ["c", "a", "d", "b", "e"],
                                    "cluster_id": ["b", "a", "b", "b", "e"]}
