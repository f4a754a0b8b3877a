"""`POST /v1/inbound/sms`: replies to the merchant's SMS, forwarded by its SMS gateway.

Authenticated like collection (a source's write key; delivery settings `inbound.sms_sources` may
restrict which sources). An opt-out reply (T, TD, N, R, 退订) withdraws `marketing_sms` of every
person holding the phone, through the consent ledger and audited, as `flywheel consent reply` does.
The answer says only whether the text was an opt-out: never whether the phone belongs to a customer.
"""

from __future__ import annotations

import asyncio
import logging
import threading

from flywheel.errors import InputError
from flywheel.jsoncodec import dumps
from flywheel.server.rules import CollectError, decode, write_key

log = logging.getLogger(__name__)

PATHS = frozenset({"/v1/inbound/sms"})
_ONE_AT_A_TIME = threading.Lock()
"""One reply at a time in this process: each opens the warehouse and appends to the audit log."""


def _fields(payload: dict) -> tuple[str, str]:
    for name in ("phone", "text"):
        if name not in payload:
            raise CollectError(400, "missing_field", f"an SMS reply needs `{name}`", name)
        if not isinstance(payload[name], str):
            raise CollectError(400, "invalid_field", f"`{name}` must be a string", name)
    if not payload["phone"].strip():
        raise CollectError(400, "invalid_field", "`phone` must not be blank", "phone")
    return payload["phone"], payload["text"]


async def respond_inbound(intake, body: bytes, authorization: str | None, encoding: str | None) -> tuple[int, bytes]:
    """Status and JSON body for one SMS reply; never raises for bad input."""
    try:
        payload, _ = decode(body, encoding)
        source = intake.keys.source_for(write_key(authorization, payload))
        if source is None:
            raise CollectError(401, "invalid_write_key",
                               "missing or unknown write key (HTTP Basic user name or `writeKey` in the body)")
        phone, text = _fields(payload)
        opt_out = await asyncio.to_thread(apply_reply, intake.settings, source, phone, text)
    except CollectError as e:
        return e.status, dumps(e.body())
    return 200, dumps({"success": True, "opt_out": opt_out})


def apply_reply(settings, source: str, phone: str, text: str) -> bool:
    """Act on one reply as the `service` role of `source:<name>`; whether it was an opt-out."""
    from flywheel.activate.delivery import DeliveryError, load_delivery, sms_reply
    from flywheel.privacy import Gate
    from flywheel.privacy.roles import Actor, role_named
    from flywheel.server.loader import is_lock_conflict, open_when_free

    with _ONE_AT_A_TIME:
        try:
            wh = open_when_free(settings)
        except Exception as e:
            if is_lock_conflict(e):
                raise CollectError(503, "unavailable", "the warehouse is busy; retry later") from None
            raise
        with wh:
            try:
                allowed = load_delivery(wh, secrets=False).sms_sources
            except DeliveryError:
                allowed = None
            if allowed is not None and source not in allowed:
                raise CollectError(401, "source_not_allowed", f"source {source!r} may not post SMS replies "
                                   "(delivery settings inbound.sms_sources)")
            actor = Actor(f"source:{source}", role_named("service"))
            with Gate.open(settings, wh, "inbound sms", actor=actor) as gate:
                try:
                    return sms_reply(gate, phone, text, via=f"POST /v1/inbound/sms, source {source}")["opt_out"]
                except InputError:  # not a full phone number: nobody to withdraw (the value is not logged)
                    log.warning("SMS reply from source %s ignored: its phone is not a full phone number", source)
                    return False
