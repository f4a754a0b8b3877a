"""The rules of the SMS and WeCom channels (webhook channels named `sms` and `wecom`).

- A marketing SMS ends with the opt-out text `回T退订` (China's MIIT rules for commercial SMS): when
  the text lacks it, `prepared` appends it — the message is sent, never silently dropped, and the
  outcome's `text` is what went out. Transactional SMS are left as written.
- A reply `T`, `TD`, `N`, `R` or `退订` (trimmed, any case, full-width letters too) is an opt-out:
  it withdraws `marketing_sms` (see `replies.py`). Anything else is not.
- WeCom lets an external contact receive one mass (marketing) message per day from the enterprise;
  a second is rejected (status 3 in WeCom's mass-message results). `wecom_allows` is the same check
  made before sending, from the history of delivered messages, by Asia/Shanghai day.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import replace
from zoneinfo import ZoneInfo

from flywheel.activate.delivery.message import Message, Refusal

SMS_OPT_OUT = "回T退订"
OPT_OUT_REPLIES = frozenset({"T", "TD", "N", "R", "退订"})
WECOM_DAY = ZoneInfo("Asia/Shanghai")


def prepared(message: Message) -> Message:
    """The message as its channel's rules want it sent (idempotent)."""
    if message.channel == "sms" and message.marketing:
        text = message.text.rstrip()
        if not text.endswith(SMS_OPT_OUT):
            return replace(message, text=text + SMS_OPT_OUT)
    return message


def opt_out_keyword(reply: str) -> str | None:
    """The opt-out keyword a reply is (upper-cased), or None when it is not one."""
    word = unicodedata.normalize("NFKC", reply or "").strip().upper()
    return word if word in OPT_OUT_REPLIES else None


def _get(item, name: str):
    return item.get(name) if isinstance(item, Mapping) else getattr(item, name, None)


def wecom_allows(history: Iterable, message: Message, now: dt.datetime) -> Refusal | None:
    """None when `message` may go out now; otherwise why not.

    `history`: messages already delivered, each a mapping or object with `channel`, `to` (or
    `person_id`), `marketing` and `sent_at` (tz-aware). Only a marketing WeCom message is limited: one
    per external contact (`to`; `person_id` when a history entry has no address) per Shanghai day.
    """
    if message.channel != "wecom" or not message.marketing:
        return None
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    day = now.astimezone(WECOM_DAY).date()
    for item in history:
        if _get(item, "channel") != "wecom" or not _get(item, "marketing"):
            continue
        to, person = _get(item, "to"), _get(item, "person_id")
        same = (to == message.to) if to and message.to else (bool(person) and person == message.person_id)
        sent = _get(item, "sent_at")
        if same and sent is not None:
            if sent.tzinfo is None:
                raise ValueError("history sent_at must be timezone-aware")
            if sent.astimezone(WECOM_DAY).date() == day:
                return Refusal("wecom_daily_limit", f"this external contact already received a mass message on "
                                                    f"{day.isoformat()} (Asia/Shanghai); WeCom would refuse it (status 3)")
    return None
