"""A row of an erased person in a later export is quarantined at its own line of the file."""

from __future__ import annotations

from test_contact_points import shopify

from flywheel.collect import ingest_paths
from flywheel.privacy.erase import erase_subject
from flywheel.privacy.subjects import find_subject
from flywheel.warehouse import Warehouse, account_persons


def test_a_suppressed_row_is_quarantined_at_its_own_line(tmp_path):
    rows = [("#1", "kept@shop.cn", "", "2024-03-01 10:00:00 +0800"),
            ("#2", "gone@shop.cn", "", "2024-03-02 10:00:00 +0800")]
    with Warehouse.open() as wh:
        ingest_paths(wh, [shopify(tmp_path / "march.csv", rows)])
        ids = wh.table("identifiers")
        gone_key = wh.fetch(ids.filter(ids.id_masked == "g***@shop.cn").select("account_key")).column(0)[0].as_py()
        persons = account_persons(wh)
        gone = wh.fetch(persons.filter(persons.account_key == gone_key)).column("person_id")[0].as_py()
        erase_subject(wh, find_subject(wh, gone), actor="tester", role="privacy_officer")
        later = shopify(tmp_path / "april.csv", rows + [("#3", "kept@shop.cn", "", "2024-04-01 10:00:00 +0800")])
        report = ingest_paths(wh, [later]).files[0]
        q = wh.table("quarantine")
        lines = wh.fetch(q.filter(q.reason.contains("erased person")).select("line").distinct()).column(0).to_pylist()
    assert report.quarantined == 1 and lines == [3], "line 1 is the header, #2 is on line 3"
