"""Consent and erasure are Ibis expressions: the same person, the same result on DuckDB and Spark."""

from __future__ import annotations

from pathlib import Path

import pytest

from flywheel.collect import ingest_paths
from flywheel.identity import resolve
from flywheel.privacy import allowed, latest_contacts
from flywheel.privacy.erase import erase_subject
from flywheel.privacy.footprint import footprint
from flywheel.privacy.subjects import UnknownSubject, find_subject
from flywheel.schema.contacts import CHANNELS
from flywheel.warehouse import account_persons

pytestmark = [pytest.mark.spark, pytest.mark.slow]
FIXTURES = Path(__file__).parents[1] / "collect" / "fixtures"


def _scenario(wh, later: Path) -> dict:
    ingest_paths(wh, [FIXTURES / "other" / "events.jsonl", FIXTURES / "shopify" / "orders_export.csv", later])
    resolve(wh)
    contacts = {channel: sorted((r["account_key"], r["value_masked"], r["first_seen_at"], r["last_seen_at"])
                                for r in wh.fetch(latest_contacts(wh, channel)).to_pylist()) for channel in CHANNELS}
    m = account_persons(wh)
    person = wh.fetch(m.filter(m.account_key == "u1")).column("person_id")[0].as_py()
    subject = find_subject(wh, person)
    owned = {name: int(wh.table(name).filter(p(wh.table(name))).count().execute())
             for name, p in footprint(wh, subject).owned().items()}
    sms = sorted(wh.fetch(allowed(wh, "personalization")).column(0).to_pylist())
    report = erase_subject(wh, subject, actor="t", role="privacy_officer")
    left = {name: int(wh.table(name).count().execute()) for name in owned}
    return {"accounts": len(subject.accounts), "owned": owned, "personalization": len(sms),
            "removed": report.removed, "anonymised": report.anonymised, "left": left, "contacts": contacts,
            "again": find_subject_or_none(wh, person)}


def find_subject_or_none(wh, person):
    try:
        return find_subject(wh, person).accounts
    except UnknownSubject as e:
        return type(e).__name__


def test_erasure_and_consent_agree_on_duckdb_and_spark(warehouse, spark_warehouse, tmp_path):
    later = tmp_path / "later" / "orders_export.csv"  # the same customers seen again in July: contact points widen
    later.parent.mkdir()
    later.write_text((FIXTURES / "shopify" / "orders_export.csv").read_text(encoding="utf-8")
                     .replace("2024-03-0", "2024-07-0"), encoding="utf-8")
    duck, spark = _scenario(warehouse, later), _scenario(spark_warehouse, later)
    assert duck == spark
    assert {(a, m, f.month, last.month) for a, m, f, last in duck["contacts"]["email"] if a.startswith("h:")} == {
        (a, m, 3, 7) for a, m, _, _ in duck["contacts"]["email"] if a.startswith("h:")}
    assert duck["removed"]["accounts"] == duck["accounts"] >= 2 and duck["again"] == "UnknownSubject"
