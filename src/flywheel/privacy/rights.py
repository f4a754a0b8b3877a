"""Data-subject rights as entry points: the access copy (PIPL Art. 45, GDPR Art. 15) and erasure
(PIPL Art. 47, GDPR Art. 17). Each takes the acting `Gate`, checks the right, does the work and writes
the audit entry, so a request served over HTTP leaves the same trail as one served on the CLI."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from flywheel.privacy.dossier import access_copy
from flywheel.privacy.erase import ErasureReport, erase_subject
from flywheel.privacy.gate import Gate
from flywheel.privacy.subjects import Subject, find_subject


def export_person(gate: Gate, person_id: str, out: Path,
                  beside: Callable[[Subject], dict[str, list[dict]]] | None = None) -> dict:
    """Write everything held about the person, unmasked for the person themself, as one JSON file
    readable by its owner only. Needs `privacy.export`. `beside(subject)` adds the sections held
    outside the warehouse (the points journal), gathered by the caller. Returns `{person_id, out,
    tables, rows, audit_entries}`."""
    gate.require("privacy.export")
    subject = find_subject(gate.warehouse, person_id)
    entries = _audit_about(gate, subject)
    copy = access_copy(gate.warehouse, subject, entries)
    if beside is not None:
        copy["data"].update(beside(subject))
    out = Path(out)
    _write_private(out, json.dumps(copy, ensure_ascii=False, indent=2, default=str) + "\n")
    gate.audit("privacy.export", f"access copy of {subject.person_id}", person=subject.person_id,
               purpose="data_subject_access", detail={"tables": sorted(copy["data"])})
    return {"person_id": subject.person_id, "out": str(out), "tables": len(copy["data"]),
            "rows": sum(len(v) for v in copy["data"].values()), "audit_entries": len(entries)}


def erase_person(gate: Gate, person_id: str,
                 confirm: Callable[[Subject], bool] | None = None) -> ErasureReport | None:
    """Remove the person from every table, destroy their data keys and keep a suppression entry.
    Needs `privacy.erase`. `confirm(subject)` is asked before anything changes; when it says no,
    nothing is erased and None is returned."""
    gate.require("privacy.erase")
    subject = find_subject(gate.warehouse, person_id)
    if confirm is not None and not confirm(subject):
        return None
    report = erase_subject(gate.warehouse, subject, actor=gate.actor.name, role=gate.actor.role.name)
    gate.audit("privacy.erase", f"erasure {report.erasure_id}", purpose="data_subject_erasure",
               detail=report.as_dict())
    return report


def _write_private(path: Path, text: str) -> None:
    """The subject's copy holds their personal data unmasked: readable by the file's owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an existing file keeps its mode on open
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)


def _audit_about(gate: Gate, subject: Subject) -> list[dict]:
    """The audit entries about the person, their targets opened with the person's data key."""
    entries = []
    for pid in subject.person_ids:
        token = gate.vault.token(pid, create=False)
        if token is None:
            continue
        for e in gate.log.entries(subject=token):
            entries.append({k: e[k] for k in ("seq", "at", "actor", "role", "action", "purpose", "detail")}
                           | {"target": gate.vault.open(pid, e["target"]) or e["target"]})
    return sorted(entries, key=lambda e: e["seq"])
