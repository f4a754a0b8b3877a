"""Replies that withdraw consent: an SMS opt-out keyword, and the one-click unsubscribe of an e-mail.

The phone is normalised and hashed exactly as identifiers are at ingest, so it finds the accounts
that carry it without any raw phone being stored. Every person holding that phone is withdrawn:
an SMS to the number reaches whoever replied, so none of them may be texted for marketing again.
The same function serves `flywheel consent reply` and `POST /v1/inbound/sms`.
"""

from __future__ import annotations

import ibis

from flywheel.activate.delivery.email import read_unsubscribe_token
from flywheel.activate.delivery.rules import opt_out_keyword
from flywheel.activate.delivery.store import unsubscribe_key
from flywheel.errors import InputError
from flywheel.identifiers import (
    IdentifierHasher,
    InvalidIdentifier,
    mask_value,
    normalize_phone,
)
from flywheel.keys import load_or_create_key
from flywheel.privacy.consent import consent_withdraw
from flywheel.privacy.gate import Gate
from flywheel.warehouse import Warehouse, account_persons

PURPOSE = "marketing_sms"


def persons_with_phone(wh: Warehouse, phone: str) -> list[str]:
    """Ids of the persons whose accounts carry this full phone number (any format; raises
    `InvalidIdentifier` for something that is not one)."""
    parsed = normalize_phone(phone)
    if parsed.partial:
        raise InvalidIdentifier("a masked phone number cannot be matched")
    digest = IdentifierHasher(load_or_create_key(wh.settings.key_file)).hash("phone", parsed.value)
    ids = wh.table("identifiers")
    hit = ids.filter((ids.id_type == "phone") & (ids.id_hash == digest)).select("source", "account_key").distinct()
    persons = hit.join(account_persons(wh), ["source", "account_key"]).select("person_id").distinct()
    return sorted(wh.fetch(persons.order_by(ibis.asc("person_id"))).column("person_id").to_pylist())


def sms_reply(gate: Gate, phone: str, text: str, via: str = "") -> dict:
    """Act on a reply `text` from `phone`: an opt-out keyword (T, TD, N, R, 退订) withdraws
    `marketing_sms` for every person holding that phone (needs `consent.withdraw`; each withdrawal
    audited by the consent ledger). Returns `{phone, keyword, opt_out, persons}` (`phone` masked).

    Raises `InputError` when `phone` is not a full phone number."""
    gate.require("consent.withdraw")
    try:
        normalized = normalize_phone(phone)
    except InvalidIdentifier as e:
        raise InputError(f"phone {phone!r}: {e}") from None
    if normalized.partial:
        raise InputError(f"phone {phone!r}: a masked phone number cannot be matched")
    shown = mask_value(normalized.value, "phone")
    keyword = opt_out_keyword(text)
    if keyword is None:
        return {"phone": shown, "keyword": None, "opt_out": False, "persons": []}
    persons = persons_with_phone(gate.warehouse, normalized.value)
    evidence = f"SMS reply {keyword!r} from {shown}" + (f" via {via}" if via else "")
    for person in persons:
        consent_withdraw(gate, person, [PURPOSE], evidence=evidence)
    return {"phone": shown, "keyword": keyword, "opt_out": True, "persons": persons}



def email_unsubscribe(gate: Gate, token: str) -> dict:
    """The one-click unsubscribe of a marketing e-mail (RFC 8058): the signed token of its
    `List-Unsubscribe` link withdraws that purpose (`marketing_email`) for that person. Needs
    `consent.withdraw`; audited by the consent ledger. Returns `{person_id, purpose}`.

    Raises `InputError` for a token this merchant did not sign (altered, or another master key)."""
    gate.require("consent.withdraw")
    found = read_unsubscribe_token(unsubscribe_key(gate.warehouse), token.strip())
    if found is None:
        raise InputError("not an unsubscribe token of this merchant (altered, or signed under another master key)")
    person, purpose = found
    done = consent_withdraw(gate, person, [purpose], evidence="one-click unsubscribe (List-Unsubscribe)")
    return {"person_id": done["person_id"], "purpose": purpose}
