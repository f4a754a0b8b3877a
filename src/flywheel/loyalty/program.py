"""The loyalty programme as a merchant runs it: rules applied, points that follow ingested orders and
refunds (`loyalty run`), and the figures of `loyalty stats`."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

from flywheel.loyalty.ledger import iso
from flywheel.loyalty.points import open_ledger
from flywheel.loyalty.rules import load_rules_file


def apply_rules(gate, path: Path) -> dict:
    """Check a rules file and store it as the next version (unchanged rules are not stored again)."""
    from flywheel.loyalty.journal import immediate

    gate.require("loyalty.apply")
    rules, raw = load_rules_file(path)
    definition = json.dumps(raw, sort_keys=True, ensure_ascii=False, default=str)
    sha = hashlib.sha256(definition.encode()).hexdigest()
    with open_ledger(gate.settings) as ledger, immediate(ledger.con) as con:
        last = con.execute("SELECT version, sha256 FROM rules ORDER BY version DESC LIMIT 1").fetchone()
        if last and last[1] == sha:
            return {"status": "unchanged", "version": last[0], "sha256": sha, "file": str(path)}
        version = (last[0] if last else 0) + 1
        con.execute("INSERT INTO rules (version, definition, sha256, file, applied_at, applied_by) VALUES (?, ?, ?, ?, ?, ?)",
                    (version, definition, sha, str(path), iso(dt.datetime.now(dt.timezone.utc)), gate.actor.name))
    gate.audit("loyalty.apply", str(path), detail={"version": version, "sha256": sha})
    return {"status": "applied", "version": version, "sha256": sha, "file": str(path),
            "levels": [lv.name for lv in rules.growth.levels], "assist_campaigns": sorted(rules.assist_campaigns)}
