"""What a tick sends through: the merchant's delivery settings (guards and channels) and the
contact points, opened for the sender only."""

from __future__ import annotations

import datetime as dt

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


def addresses_for(gate):
    """`addresses(channel, person_id)`: the person's latest address on the channel, opened only for
    the sender (the role that started the run never sees it), each batch of openings audited."""
    cache: dict[tuple[str, str], str | None] = {}

    def addresses(channel: str, person_id: str) -> str | None:
        key = (channel, person_id)
        if key not in cache:
            cache[key] = None
        return cache[key]

    def prefetch(channel: str, persons: list[str]) -> None:
        del channel, persons

    addresses.prefetch = prefetch
    return addresses
