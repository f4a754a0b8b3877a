"""The audit log's promises: appends verify, checkpoints get signed, and every kind of tampering is caught
at the right place — including a consistent rewrite by someone without the signing key."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from flywheel.config import Settings
from flywheel.errors import FlywheelError, InputError
from flywheel.privacy import signing
from flywheel.privacy.audit import (
    GENESIS,
    AuditLog,
    AuditLogBroken,
    MerkleRange,
    audit_dir,
    canonical,
    checkpoint_message,
    entry_hash,
    verify,
    verify_settings,
)
from flywheel.cli.audit import audit_app


def _write_log(tmp_path: Path, n: int, every: int = 5) -> tuple[Path, Path]:
    directory, key_file = tmp_path / "audit", tmp_path / "keys" / "audit-signing.key"
    with AuditLog.open(directory, key_file, checkpoint_every=every) as log:
        for i in range(n):
            log.append(actor=f"user{i % 3}", role="analyst", action="read.unmasked", target=f"person-{i}",
                       purpose="refund", subject=f"s{i % 4}", detail={"fields": ["phone"], "i": i})
    return directory, key_file


def _check(directory: Path, key_file: Path):
    return verify(directory, signing.trusted_public_key(key_file))


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _save(path: Path, rows: list[dict]) -> None:
    path.write_bytes(b"".join(canonical(r) + b"\n" for r in rows))


def _rechain(rows: list[dict]) -> list[dict]:
    """What an attacker who knows the format does: renumber and rehash so the chain is consistent."""
    prev = GENESIS
    for seq, row in enumerate(rows):
        row.update(seq=seq, prev=prev)
        row["hash"] = prev = entry_hash(row)
    return rows


def _rfc6962_root(hashes: list[bytes]) -> bytes:
    """The textbook recursive definition, to check the incremental one against."""
    if len(hashes) == 1:
        return hashlib.sha256(b"\x00" + hashes[0]).digest()
    k = 1
    while k * 2 < len(hashes):
        k *= 2
    return hashlib.sha256(b"\x01" + _rfc6962_root(hashes[:k]) + _rfc6962_root(hashes[k:])).digest()


def test_append_then_verify_ok_and_entry_shape(tmp_path):
    directory, key_file = _write_log(tmp_path, 12)
    report = _check(directory, key_file)
    assert report.as_dict() == {"ok": True, "entries": 12, "checkpoints": 3, "first_broken": None, "problem": None,
                                "covered": 12, "unsigned_tail": 0}
    first = _rows(directory / "entries.jsonl")[0]
    assert set(first) == {"seq", "at", "actor", "role", "action", "target", "purpose", "subject", "detail", "prev",
                          "hash"}
    assert first["seq"] == 0 and first["prev"] == GENESIS and first["at"].endswith("+00:00")
    assert (directory / "entries.jsonl").read_bytes().splitlines()[0] == canonical(first)


def test_checkpoints_every_n_and_on_close(tmp_path):
    directory, key_file = _write_log(tmp_path, 12, every=5)
    assert [c["size"] for c in _rows(directory / "checkpoints.jsonl")] == [5, 10, 12]
    with AuditLog.open(directory, key_file, checkpoint_every=5) as log:
        log.append(actor="a", role="admin", action="privacy.erase", target="x")
        assert log.checkpoint()["size"] == 13
    assert [c["size"] for c in _rows(directory / "checkpoints.jsonl")] == [5, 10, 12, 13]
    with AuditLog.open(directory, key_file) as log:
        assert log.checkpoint() is None
    assert len(_rows(directory / "checkpoints.jsonl")) == 4


def test_unsigned_tail_is_reported_not_an_error(tmp_path):
    directory, key_file = _write_log(tmp_path, 5, every=5)
    log = AuditLog.open(directory, key_file, checkpoint_every=5)
    log.append(actor="a", role="admin", action="consent.withdraw", target="x")
    report = _check(directory, key_file)
    assert report.ok and report.covered == 5 and report.unsigned_tail == 1


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 8, 13, 16, 21])
def test_merkle_root_matches_rfc6962(size):
    hashes = [hashlib.sha256(str(i).encode()).digest() for i in range(size)]
    tree = MerkleRange()
    for h in hashes:
        tree.add(h.hex())
    assert tree.root() == _rfc6962_root(hashes).hex()


def test_modified_field_is_caught_at_that_entry(tmp_path):
    directory, key_file = _write_log(tmp_path, 12)
    rows = _rows(directory / "entries.jsonl")
    rows[6]["actor"] = "someone-else"
    _save(directory / "entries.jsonl", rows)
    report = _check(directory, key_file)
    assert not report.ok and report.first_broken == 6
    assert report.problem.startswith("entries.jsonl line 7 (seq 6): hash does not match its contents")


@pytest.mark.parametrize("gone", [0, 4])
def test_deleted_entry_is_caught(tmp_path, gone):
    directory, key_file = _write_log(tmp_path, 12)
    rows = _rows(directory / "entries.jsonl")
    del rows[gone]
    _save(directory / "entries.jsonl", rows)
    report = _check(directory, key_file)
    assert not report.ok and report.first_broken == gone
    assert f"line {gone + 1} (seq {gone + 1}): expected seq {gone}" in report.problem


def test_truncated_tail_covered_by_a_checkpoint_is_caught(tmp_path):
    directory, key_file = _write_log(tmp_path, 12)
    _save(directory / "entries.jsonl", _rows(directory / "entries.jsonl")[:8])
    report = _check(directory, key_file)
    assert not report.ok and report.first_broken == 8 and report.entries == 8
    assert "checkpoints.jsonl line 2 covers 10 entries but entries.jsonl has only 8" in report.problem


def test_inserted_entry_is_caught_where_the_chain_breaks(tmp_path):
    directory, key_file = _write_log(tmp_path, 12)
    rows = _rows(directory / "entries.jsonl")
    forged = {**rows[7], "actor": "ghost", "seq": 7, "prev": rows[6]["hash"]}
    forged["hash"] = entry_hash(forged)
    _save(directory / "entries.jsonl", rows[:7] + [forged] + rows[7:])
    report = _check(directory, key_file)
    assert not report.ok and report.first_broken == 8
    assert "line 9 (seq 7): expected seq 8" in report.problem


def test_inserted_entry_with_rechained_tail_is_caught_by_the_checkpoint(tmp_path):
    directory, key_file = _write_log(tmp_path, 12)
    rows = _rows(directory / "entries.jsonl")
    rows.insert(7, {**rows[7], "actor": "ghost"})
    _save(directory / "entries.jsonl", _rechain(rows))
    report = _check(directory, key_file)
    assert not report.ok and report.first_broken == 5
    assert report.problem.startswith("checkpoints.jsonl line 2: the Merkle root of the first 10 entries differs")


def test_swapped_entries_are_caught(tmp_path):
    directory, key_file = _write_log(tmp_path, 12)
    rows = _rows(directory / "entries.jsonl")
    rows[3], rows[4] = rows[4], rows[3]
    _save(directory / "entries.jsonl", rows)
    report = _check(directory, key_file)
    assert not report.ok and report.first_broken == 3 and "line 4 (seq 4): expected seq 3" in report.problem


def test_consistent_rewrite_with_another_key_fails_the_signature(tmp_path):
    directory, key_file = _write_log(tmp_path, 12)
    rows = _rechain([{**r, "purpose": "none of your business"} for r in _rows(directory / "entries.jsonl")])
    _save(directory / "entries.jsonl", rows)
    attacker = Ed25519PrivateKey.generate()
    public = signing.public_bytes(attacker)
    checkpoints, tree = [], MerkleRange()
    for row in rows:
        tree.add(row["hash"])
        if tree.size in (5, 10, 12):
            at = row["at"]
            checkpoints.append({"size": tree.size, "root": tree.root(), "at": at, "key_id": signing.key_id(public),
                                "sig": signing.sign(attacker, checkpoint_message(tree.size, tree.root(), at))})
    _save(directory / "checkpoints.jsonl", checkpoints)
    (directory / "signing.pub").write_text(public.hex() + "\n")
    assert verify(directory, public).ok
    report = _check(directory, key_file)
    assert not report.ok and report.first_broken == 0
    assert report.problem.startswith("checkpoints.jsonl line 1: signature does not verify; it names key")


def test_edited_checkpoint_root_is_caught(tmp_path):
    directory, key_file = _write_log(tmp_path, 12)
    checkpoints = _rows(directory / "checkpoints.jsonl")
    checkpoints[1]["root"] = "ab" * 32
    _save(directory / "checkpoints.jsonl", checkpoints)
    report = _check(directory, key_file)
    assert not report.ok and report.first_broken == 5
    assert report.problem.startswith("checkpoints.jsonl line 2: signature does not verify —")


def test_interrupted_write_is_reported_and_blocks_appends(tmp_path):
    directory, key_file = _write_log(tmp_path, 3)
    with open(directory / "entries.jsonl", "ab") as f:
        f.write(b'{"seq":3,"act')
    assert _check(directory, key_file).problem.startswith("entries.jsonl line 4 is incomplete")
    with pytest.raises(AuditLogBroken, match="incomplete line"):
        AuditLog.open(directory, key_file).append(actor="a", role="r", action="privacy.erase", target="x")


def _append_many(directory: Path, key_file: Path, worker: int) -> None:
    with AuditLog.open(directory, key_file, checkpoint_every=30) as log:
        for i in range(50):
            log.append(actor=f"worker{worker}", role="job", action="identity.merge", target=f"{worker}-{i}")


def test_concurrent_appends_from_processes_form_one_chain(tmp_path):
    directory, key_file = tmp_path / "audit", tmp_path / "keys" / "audit-signing.key"
    ctx = multiprocessing.get_context("fork")
    workers = [ctx.Process(target=_append_many, args=(directory, key_file, w)) for w in range(4)]
    for p in workers:
        p.start()
    for p in workers:
        p.join()
    assert [p.exitcode for p in workers] == [0, 0, 0, 0]
    report = _check(directory, key_file)
    assert report.ok and report.entries == 200 and report.covered == 200
    assert sorted(e["target"] for e in AuditLog.open(directory, key_file).entries()) == sorted(
        f"{w}-{i}" for w in range(4) for i in range(50))


def test_entries_filter_by_subject_and_action(tmp_path):
    directory, key_file = _write_log(tmp_path, 12)
    with AuditLog.open(directory, key_file) as log:
        log.append(actor="a", role="admin", action="privacy.erase", target="enc:…", subject="s1")
        assert [e["seq"] for e in log.entries(subject="s1")] == [1, 5, 9, 12]
        assert [e["seq"] for e in log.entries(subject="s1", action="privacy.erase")] == [12]


def test_append_refuses_what_cannot_be_hashed_stably(tmp_path):
    log = AuditLog.open(tmp_path / "audit", tmp_path / "audit-signing.key")
    with pytest.raises(InputError, match="dotted name"):
        log.append(actor="a", role="r", action="erase", target="x")
    with pytest.raises(InputError, match="plain JSON"):
        log.append(actor="a", role="r", action="privacy.erase", target="x", detail={"when": object()})
    entry = log.append(actor="a", role="r", action="privacy.erase", target="x", detail={2: "b", 10: "a"})
    assert entry["detail"] == {"10": "a", "2": "b"}
    log.close()
    assert _check(tmp_path / "audit", tmp_path / "audit-signing.key").ok


def test_signing_key_is_private_and_public_half_is_trusted_without_it(tmp_path):
    directory, key_file = _write_log(tmp_path, 6)
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    public = bytes.fromhex((key_file.parent / "audit-signing.pub").read_text())
    assert (directory / "signing.pub").read_text().strip() == public.hex()
    key_file.unlink()
    assert signing.trusted_public_key(key_file) == public
    assert _check(directory, key_file).ok


def _settings(tmp_path: Path) -> Settings:
    return Settings(db_path=tmp_path / "w.duckdb", key_file=tmp_path / "keys" / "identifier.key", role="auditor")


def _cli(settings: Settings, *args: str, as_json: bool = False):
    from flywheel.cli import State

    return CliRunner().invoke(audit_app, list(args), obj=State(settings, as_json, True))


def test_cli_verify_ok_show_and_broken(tmp_path):
    settings = _settings(tmp_path)
    assert audit_dir(settings) == tmp_path / "w.duckdb.audit"
    assert verify_settings(settings).ok
    result = _cli(settings, "verify")
    assert result.exit_code == 0 and "Audit log OK: 0 entries" in result.stdout
    with AuditLog.for_settings(settings) as log:
        for i in range(3):
            log.append(actor="a", role="admin", action="privacy.erase" if i else "consent.withdraw", target=f"t{i}")
    result = _cli(settings, "verify")
    assert result.exit_code == 0, result.output
    assert "Audit log OK: 3 entries, 1 signed checkpoints (last covers 3)" in result.stdout
    shown = _cli(settings, "show", "--action", "privacy.erase", "--limit", "1", "--json")
    assert [json.loads(line)["target"] for line in shown.stdout.splitlines()] == ["t2"]

    entries = audit_dir(settings) / "entries.jsonl"
    entries.write_text(entries.read_text().replace('"target":"t1"', '"target":"t9"'))
    result = _cli(settings, "verify", as_json=True)
    assert result.exit_code == 1 and isinstance(result.exception, FlywheelError)
    assert "line 2 (seq 1): hash does not match" in str(result.exception)
    assert json.loads(result.stdout)["first_broken"] == 1


def test_spark_log_lives_inside_the_warehouse_directory(tmp_path):
    settings = Settings(db_path=tmp_path / "warehouse", engine="spark", key_file=tmp_path / "identifier.key")
    assert audit_dir(settings) == tmp_path / "warehouse" / "audit"


@pytest.mark.parametrize("damage", ["delete", "garbage", "wrong peaks", "wrong size"])
def test_checkpoints_stay_right_when_the_merkle_cache_is_lost_or_wrong(tmp_path, damage):
    directory, key_file = _write_log(tmp_path, 7, every=5)
    state = directory / "merkle.state"
    if damage == "delete":
        state.unlink()
    elif damage == "garbage":
        state.write_text("{not json")
    elif damage == "wrong peaks":
        cached = json.loads(state.read_text())
        state.write_text(json.dumps({**cached, "peaks": ["00" * 32] * len(cached["peaks"])}))
    else:
        cached = json.loads(state.read_text())
        state.write_text(json.dumps({**cached, "size": 3, "hash": "ff" * 32}))
    with AuditLog.open(directory, key_file, checkpoint_every=5) as log:
        for i in range(4):
            log.append(actor="a", role="admin", action="privacy.erase", target=f"t{i}")
    report = _check(directory, key_file)
    assert report.ok and report.checkpoints == 4 and report.covered == 11
