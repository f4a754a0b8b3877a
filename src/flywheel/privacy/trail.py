"""Reading the audit log as a role: only roles with `audit.read` may list or verify it.

Entries about a person carry their id sealed (see vault.py), so listing them discloses no person.
Reading does not load the warehouse: `flywheel audit verify` starts fast.
"""

from __future__ import annotations

from collections import deque

from flywheel.privacy.audit import (
    VerifyReport,
    audit_dir,
    read_entries,
    verify_settings,
)
from flywheel.privacy.gate import Gate


def audit_entries(gate: Gate, action: str | None = None, limit: int | None = None) -> list[dict]:
    """The most recent `limit` entries (all when None), of `action` when given, oldest first."""
    gate.require("audit.read")
    return list(deque(read_entries(audit_dir(gate.settings), action=action), maxlen=limit))


def audit_verify(gate: Gate) -> VerifyReport:
    """Every entry's hash chain and every checkpoint's Merkle root and signature, checked."""
    gate.require("audit.read")
    return verify_settings(gate.settings)
