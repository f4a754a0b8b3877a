"""Erasure (PIPL Art. 47, GDPR Art. 17): the person leaves every table, derived ones included.

Rows that are the person's are deleted; rows of other persons that mention one of the person's ids
(an invite they accepted, a device they shared) keep their facts and lose the id. The person's data
keys are destroyed, so what the append-only audit log said about them can no longer be read or tied
to them. What stays: aggregates that identify no one (run counts, campaign spend), the erasure record
in counts only, and keyed hashes on the suppression list so an export that still contains the person
does not load them again.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import asdict, dataclass

import ibis
import pyarrow as pa

from flywheel.keys import load_or_create_key
from flywheel.privacy.footprint import Footprint, footprint
from flywheel.privacy.subjects import Subject
from flywheel.privacy.vault import Vault
from flywheel.suppression import Suppressor
from flywheel.warehouse import Warehouse


@dataclass
class ErasureReport:
    erasure_id: str
    accounts: int
    removed: dict[str, int]
    anonymised: dict[str, int]
    keys_destroyed: int
    suppressed: int

    def as_dict(self) -> dict:
        return asdict(self) | {"rows_removed": sum(self.removed.values()),
                               "rows_anonymised": sum(self.anonymised.values())}


def erase_subject(wh: Warehouse, subject: Subject, *, actor: str, role: str) -> ErasureReport:
    """Erase the person everywhere (see the module docstring); the caller has checked the right and
    writes the audit entry (`flywheel.privacy.erase_person` does both)."""
    fp = footprint(wh, subject)
    erasure_id = "er-" + uuid.uuid4().hex[:16]
    tokens = _suppression_tokens(wh, fp)
    removed: dict[str, int] = {}
    anonymised: dict[str, int] = {}
    with wh.transaction():
        for name, owned in fp.owned().items():
            t = wh.table(name)
            mine = owned(t).fill_null(False)  # `NULL IN (…)` is NULL, and NOT NULL would drop others' rows
            n = int(t.filter(mine).count().execute())
            if n:
                wh.replace(name, t.filter(~mine))
                removed[name] = n
        for name, columns in fp.mentioned().items():
            t = wh.table(name)
            hit = ibis.or_(*[p(t).fill_null(False) for p in columns.values()])
            n = int(t.filter(hit).count().execute())
            if n:
                wh.replace(name, t.mutate(**{c: ibis.cases((p(t).fill_null(False), ibis.null(t[c].type())), else_=t[c])
                                              for c, p in columns.items()}))
                anonymised[name] = n
        now = dt.datetime.now(dt.timezone.utc)
        known = wh.table("suppressions")
        new = sorted(set(tokens) - set(wh.fetch(known.filter(known.token.isin(list(tokens))).select("token"))
                                        .column(0).to_pylist()))
        wh.append("suppressions", pa.table({"token": new, "kind": [tokens[t] for t in new],
                                            "erasure_id": [erasure_id] * len(new), "created_at": [now] * len(new)}))
        shredded = Vault(wh).shred(list(subject.person_ids))
        wh.append("erasures", pa.table({
            "erasure_id": [erasure_id], "erased_at": [now], "actor": [actor], "role": [role],
            "accounts": [len(subject.accounts)], "rows_removed": [sum(removed.values())],
            "rows_anonymised": [sum(anonymised.values())],
            "detail": [json.dumps({"removed": removed, "anonymised": anonymised}, sort_keys=True)]}))
    wh.drop_work()
    wh.compact()
    return ErasureReport(erasure_id, len(subject.accounts), removed, anonymised, shredded, len(new))


def _suppression_tokens(wh: Warehouse, fp: Footprint) -> dict[str, str]:
    s = Suppressor(load_or_create_key(wh.settings.key_file))
    tokens = {s.account_token(src, key): "account" for src, key in fp.subject.accounts}
    tokens |= {s.token("user_id", u): "user_id" for u in fp.user_ids}
    tokens |= {s.token("anonymous_id", a): "anonymous_id" for a in fp.anonymous_nodes}
    tokens |= {s.token("identifier", h): "identifier" for h in fp.own_hashes}
    return tokens
