"""Everything held about a person, in one readable structure: the subject-access copy (PIPL Art. 45,
GDPR Art. 15) and, passed through a role's disclosure, the `person show` view (`person_show`)."""

from __future__ import annotations

import datetime as dt

from flywheel import __version__
from flywheel.privacy.footprint import footprint
from flywheel.privacy.gate import Gate
from flywheel.privacy.subjects import Subject, find_subject
from flywheel.schema import table as catalog_table
from flywheel.warehouse import Warehouse

SECTIONS = ("persons", "person_accounts", "accounts", "identifiers", "contact_points", "consents", "orders",
            "order_items", "events", "touchpoints", "reviews", "referrals", "person_traits", "person_scores",
            "value_alerts", "identity_links", "identity_refusals", "identity_events", "identity_overrides",
            "segment_members", "segment_changes", "journey_episodes", "journey_actions", "coupons", "metric_persons",
            "loyalty_members", "referral_bindings")

NOT_KEPT = ("E-mail addresses, phone numbers, WeCom external contact ids and WeChat openids are kept sealed "
            "(encrypted under the account's own key) so messages can reach you; they are listed, opened, under "
            "contact_points. ID-card numbers and addresses are not kept: only a keyed hash (to recognise them "
            "again) and a masked form, listed under identifiers.")


def dossier(wh: Warehouse, subject: Subject, sections: tuple[str, ...] = SECTIONS) -> dict:
    """`{table: [rows]}` of every row that is the person's, newest tables first in reading order."""
    owned = footprint(wh, subject).owned()
    out = {}
    for name in sections:
        t = wh.table(name)
        order = list(catalog_table(name).key) or t.columns
        rows = wh.sealer.unseal(name, wh.fetch(t.filter(owned[name](t)).order_by(order))).to_pylist()
        if rows:
            out[name] = rows
    return out


def person_show(gate: Gate, person_id: str, sections: tuple[str, ...] = SECTIONS) -> dict:
    """Every row about the person (of `sections`) as the acting role may see it: `{person_id, data:
    {table: [rows]}, disclosure}`. Needs `read.persons`."""
    gate.require("read.persons")
    subject = find_subject(gate.warehouse, person_id)
    gate.about(subject.person_id)
    shown = {name: gate.disclosure.records(name, rows)
             for name, rows in dossier(gate.warehouse, subject, sections).items()}
    return gate.disclosed({"person_id": subject.person_id, "data": shown})


def access_copy(wh: Warehouse, subject: Subject, audit_entries: list[dict]) -> dict:
    """The subject-access export: the dossier plus the audit entries about the person."""
    return {
        "format": "flywheel-subject-access/1",
        "generated_at": dt.datetime.now(dt.timezone.utc),
        "generator": f"flywheel {__version__}",
        "person_id": subject.person_id,
        "person_ids": list(subject.person_ids),
        "accounts": [{"source": s, "account_key": k} for s, k in subject.accounts],
        "note": NOT_KEPT,
        "data": dossier(wh, subject),
        "audit_entries": audit_entries,
    }
