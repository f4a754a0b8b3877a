"""Processing purposes a person can consent to, and which of them need their own, separate consent.

PIPL Arts. 23, 25, 29 and 39 (sharing with another handler, publishing, sensitive personal information,
cross-border transfer) and GDPR Art. 7(2) / Art. 9 require consent given for that purpose alone: a
bundled "agree to all" never covers them. Collection (`context.consent.all`), the CLI and the ledger read
this one list.
"""

from __future__ import annotations

from dataclasses import dataclass

from flywheel.errors import InputError


@dataclass(frozen=True)
class Purpose:
    name: str
    description: str
    separate: bool = False
    """Only an explicit record for this purpose alone grants it."""
    opt_out: bool = False
    """Allowed until the person objects (denied or withdrawn); otherwise only a grant allows it."""


PURPOSES: dict[str, Purpose] = {p.name: p for p in (
    Purpose("marketing_sms", "marketing text messages"),
    Purpose("marketing_email", "marketing e-mail"),
    Purpose("wecom_outreach", "contact through WeCom (企业微信) by the merchant's staff"),
    Purpose("personalization", "personalised recommendations and targeting by personal characteristics "
            "(PIPL Art. 24: the person may refuse)", opt_out=True),
    Purpose("cross_border_transfer", "transfer of personal information outside mainland China", separate=True),
    Purpose("sensitive_pi", "processing of sensitive personal information", separate=True),
)}

SHARING_PREFIX = "data_sharing:"
"""`data_sharing:<recipient>`: providing the person's data to a named other handler (separate consent)."""

BUNDLE_WORDS = ("all", "*", "agree_all")
"""Words a consent banner uses for "agree to all"; they expand to the bundleable purposes only."""


class UnknownPurpose(InputError):
    """A purpose name that is neither declared here nor `data_sharing:<recipient>`."""


def purpose(name: str) -> Purpose:
    """The purpose named, or `UnknownPurpose` (a ValueError) listing the known ones."""
    if name in PURPOSES:
        return PURPOSES[name]
    if name.startswith(SHARING_PREFIX) and len(name) > len(SHARING_PREFIX):
        return Purpose(name, f"sharing with {name[len(SHARING_PREFIX):]}", separate=True)
    raise UnknownPurpose(f"unknown purpose {name!r}; known: {', '.join(PURPOSES)}, {SHARING_PREFIX}<recipient>")


def bundleable() -> tuple[str, ...]:
    """What one "agree to all" record may grant."""
    return tuple(p.name for p in PURPOSES.values() if not p.separate)


def expand(names: list[str]) -> list[str]:
    """Purpose names with bundle words replaced by the bundleable purposes, in order, without repeats."""
    out: list[str] = []
    for n in names:
        for p in (bundleable() if n.lower() in BUNDLE_WORDS else (n,)):
            if p not in out:
                out.append(p)
    return out
