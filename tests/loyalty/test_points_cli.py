"""`flywheel points …` as a user runs it: JSON contracts, refusals with reason codes and exit 1, roles,
masking, audit entries for manual writes, and merged persons."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys

import pyarrow as pa
from flywheel_cli import cli

from flywheel.config import load_settings
from flywheel.privacy.audit import AuditLog
from flywheel.warehouse import Warehouse

NOW = dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc)


def _persons(*rows: tuple[str, str, str | None]) -> None:
    with Warehouse.open() as wh:
        wh.append("persons", pa.table({"person_id": [r[0] for r in rows], "status": [r[1] for r in rows],
                                       "merged_into": [r[2] for r in rows], "created_at": [NOW] * len(rows)}))


def _run(monkeypatch, capsys, *args, role="service"):
    code, out, err = cli(monkeypatch, capsys, "--role", role, "--json", *args)
    return code, (json.loads(out) if out.strip() else None), err


def test_earn_redeem_refund_and_read_back(monkeypatch, capsys):
    _persons(("p1", "active", None))
    code, earned, _ = _run(monkeypatch, capsys, "points", "earn", "p1", "--order", "o1", "--paid", "109.00",
                           "--at", "2026-03-01T10:00", "--pending-days", "0")
    assert code == 0 and earned["status"] == "created" and earned["available"] == 10
    assert set(earned) >= {"transaction_id", "status", "available", "pending", "debt"}
    code, again, _ = _run(monkeypatch, capsys, "points", "earn", "p1", "--order", "o1", "--paid", "109.00",
                          "--at", "2026-03-01T10:00", "--pending-days", "0")
    assert code == 0 and again["status"] == "exists" and again["transaction_id"] == earned["transaction_id"]
    code, spent, _ = _run(monkeypatch, capsys, "points", "redeem", "p1", "--points", "8", "--key", "r1")
    assert code == 0 and spent["available"] == 2
    code, refused, _ = _run(monkeypatch, capsys, "points", "redeem", "p1", "--points", "8", "--key", "r2")
    assert code == 1 and refused["status"] == "refused" and refused["reason"] == "insufficient_points"
    code, refund, _ = _run(monkeypatch, capsys, "points", "refund", "p1", "--order", "o1", "--amount", "109.00")
    assert code == 0 and (refund["available"], refund["debt"]) == (0, 8)
    code, balance, _ = _run(monkeypatch, capsys, "points", "balance", "p1", role="analyst")
    assert code == 0 and (balance["available"], balance["pending"], balance["debt"]) == (0, 0, 8)
    assert balance["lots"] == [] and balance["disclosure"]["role"] == "analyst"
    code, history, _ = _run(monkeypatch, capsys, "points", "history", "p1", role="analyst")
    assert [t["kind"] for t in history["transactions"]] == ["earn", "redeem", "refund"]
    code, report, _ = _run(monkeypatch, capsys, "points", "verify", role="auditor")
    assert code == 0 and report["ok"] and report["transactions"] == 3
    writes = [e for e in AuditLog.for_settings(load_settings()).entries() if e["action"].startswith("points.")]
    assert [e["action"] for e in writes] == ["points.earn", "points.redeem", "points.refund"]
    # the person id is sealed into the target, never written in clear (a sealed text may contain "p1" by chance)
    assert all(e["role"] == "service" and '"p1"' not in json.dumps(e) and e["target"] != "p1" for e in writes)


def test_roles_that_may_not_write_are_refused_and_an_auditor_sees_no_person_level_value(monkeypatch, capsys):
    _persons(("p1", "active", None))
    assert _run(monkeypatch, capsys, "points", "earn", "p1", "--points", "5", "--key", "k")[0] == 0
    code, out, err = cli(monkeypatch, capsys, "--role", "analyst", "points", "earn", "p1", "--points", "5")
    assert code == 1 and "may not points.write" in err and err.count("\n") == 1
    code, out, err = cli(monkeypatch, capsys, "--role", "auditor", "points", "balance", "p1")
    assert code == 1 and "may not read.persons" in err
    for role in ("owner", "marketer"):
        assert _run(monkeypatch, capsys, "points", "earn", "p1", "--points", "1", "--key", role, role=role)[0] == 0
    code, shown, _ = _run(monkeypatch, capsys, "points", "balance", "p1", role="marketer")
    assert shown["available"] == 7 and shown["person_id"] == "p1"


def test_unknown_persons_and_merged_ids(monkeypatch, capsys):
    _persons(("p1", "active", None), ("p0", "merged", "p1"))
    code, refused, _ = _run(monkeypatch, capsys, "points", "earn", "nobody", "--points", "5")
    assert code == 1 and refused["reason"] == "unknown_person"
    code, earned, _ = _run(monkeypatch, capsys, "points", "earn", "p0", "--points", "5")
    assert code == 0 and earned["person_id"] == "p1"
    assert _run(monkeypatch, capsys, "points", "balance", "p1")[1]["available"] == 5


def test_bad_input_is_one_line(monkeypatch, capsys):
    _persons(("p1", "active", None))
    for args, says in ((["earn", "p1"], "give --points N"), (["earn", "p1", "--order", "o", "--paid", "1.234"], "--paid"),
                       (["earn", "p1", "--points", "0"], "must be > 0"), (["redeem", "p1", "--points", "-2"], "must be > 0"),
                       (["earn", "p1", "--points", "3", "--at", "yesterday"], "--at")):
        code, out, err = cli(monkeypatch, capsys, "--role", "service", "points", *args)
        assert code == 1 and says in err and err.count("\n") == 1 and "Traceback" not in err, (args, err)


def test_parallel_cli_processes_with_one_key_write_once(tmp_path):
    _persons(("p1", "active", None))
    env = os.environ | {"FLYWHEEL_ROLE": "service"}
    procs = [subprocess.Popen([sys.executable, "-m", "flywheel", "--json", "points", "earn", "p1", "--points", "10",
                               "--key", "same"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(8)]
    results = [p.communicate(timeout=240) for p in procs]
    statuses = sorted(json.loads(out)["status"] for out, _ in results)
    assert statuses == ["created"] + ["exists"] * 7, results
