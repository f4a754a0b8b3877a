"""What a tick sends through: the merchant's delivery settings (guards and channels) and the
contact points, opened for the sender only."""

from __future__ import annotations

import datetime as dt

import ibis

from flywheel.activate.outbox import DEFAULT_QUIET, Guards

STATUS = {"delivered": "sent", "retry_later": "retry"}
"""Delivery outcomes as outbox statuses; every other outcome is `failed` with its reason."""


def guards_of(settings) -> Guards:
    quiet = {name: (str(window) if window else None) for name, window in settings.quiet_hours.items()}
    quiet.setdefault("marketing", DEFAULT_QUIET)
    caps = {channel: {k: v for k, v in (("per_day", cap.per_day), ("per_week", cap.per_week)) if v is not None}
            for channel, cap in settings.caps.items()}
    return Guards(quiet_hours=quiet, caps=caps, on_cap=settings.on_cap)


def delivery_for(gate, now: dt.datetime):
    """(guards, deliver, addresses) for a tick at `now` acting through `gate`."""
    from flywheel.activate.delivery import Message, deliver_many, load_delivery

    settings = load_delivery(gate.warehouse)

    def deliver(batch):
        messages = [Message(id=a["action_key"], channel=a["channel"], to=address, text=a["text"] or "",
                            purpose=a["purpose"], marketing=a["marketing"] is not False, person_id=a["person_id"],
                            journey=a["journey"], step=a["step"], subject=a["subject"] or "",
                            coupon_code=a["coupon_code"]) for a, address in batch]
        outcomes = deliver_many(settings, messages, now=now)
        results = []
        for (a, _), outcome in zip(batch, outcomes):
            if outcome.text:
                a["text"] = outcome.text
            results.append((STATUS.get(outcome.status, "failed"), outcome.reason))
        return results

    return guards_of(settings), deliver, addresses_for(gate)


class ContactBook:
    """Who is reachable on a channel (from the sealed contact points' presence, nothing opened) and
    their addresses, opened through the delivery gate for the sender only: the role that started the
    run never sees them, and each channel's opening is one audited batch."""

    def __init__(self, gate):
        self.gate = gate

    def reachable(self, channel: str, persons: list[str]) -> set[str]:
        from flywheel.privacy import latest_contacts

        if not persons:
            return set()
        wh = self.gate.warehouse
        wanted = ibis.memtable({"person_id": sorted(set(persons))}, schema={"person_id": "string"})
        found = latest_contacts(wh, channel).semi_join(wanted, "person_id").select("person_id")
        return set(wh.fetch(found).column(0).to_pylist())

    def open(self, channel: str, persons: list[str], purpose: str | None = None) -> dict[str, str]:
        from flywheel.privacy import contact_points, delivery_gate

        if not persons:
            return {}
        with delivery_gate(self.gate, "journey run") as sender:
            return contact_points(sender, persons, channel, purpose=purpose)


def addresses_for(gate) -> ContactBook:
    return ContactBook(gate)
