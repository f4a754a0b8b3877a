"""Normalise, validate, mask and hash personal identifiers.

Shared by every path that accepts identifiers (file ingestion, the collection API, identity), so a
phone typed as `138 1234 5678` in one export and `+86-13812345678` in another hash to the same value.
Each `normalize_*` returns the canonical text or raises `InvalidIdentifier` with a reason.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

import phonenumbers
import pyarrow as pa

from flywheel.errors import InputError


class InvalidIdentifier(InputError):
    """A value that cannot be an identifier of the claimed type."""


_PHONE_JUNK = re.compile(r"[\s\-().\u00a0]")
_CN_MOBILE = re.compile(r"^(?:\+?86|0086)?(1[3-9]\d{9})$")
_CN_MASKED = re.compile(r"^(?:\+?86)?(1[3-9]\d)\*{4}(\d{4})$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]{2,}$")
_CN_ID = re.compile(r"^\d{17}[\dX]$")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


@dataclass(frozen=True)
class Phone:
    value: str
    partial: bool

    @property
    def id_type(self) -> str:
        return "phone_masked" if self.partial else "phone"


@functools.lru_cache(maxsize=1 << 18)
def normalize_phone(raw: str, region: str = "CN") -> Phone:
    """E.164 for a full number; `138****1234` kept as partial evidence when the platform masked it."""
    text = _PHONE_JUNK.sub("", unicodedata.normalize("NFKC", raw)).lstrip("'")
    if not text:
        raise InvalidIdentifier("empty phone")
    masked = _CN_MASKED.match(text)
    if masked:
        return Phone(f"{masked.group(1)}****{masked.group(2)}", True)
    if "*" in text:
        raise InvalidIdentifier("masked phone in an unknown pattern")
    mobile = _CN_MOBILE.match(text)
    if mobile:
        return Phone("+86" + mobile.group(1), False)
    try:
        number = phonenumbers.parse(text, region or "CN")
    except phonenumbers.NumberParseException:
        raise InvalidIdentifier("not a phone number") from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidIdentifier("not a valid phone number for its country")
    return Phone(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), False)


def normalize_email(raw: str) -> str:
    text = unicodedata.normalize("NFKC", raw).strip().lower()
    if not _EMAIL.match(text):
        raise InvalidIdentifier("not an e-mail address")
    return text


def normalize_name(raw: str) -> str:
    """NFKC (full-width to half-width), trimmed, inner whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFKC", raw).split())


def normalize_token(raw: str) -> str:
    """Platform ids (nicks, pins, openids): NFKC and trimmed, case kept (platforms are case-sensitive)."""
    text = unicodedata.normalize("NFKC", raw).strip()
    if not text:
        raise InvalidIdentifier("empty identifier")
    return text


def normalize_cn_id(raw: str) -> str:
    """A mainland resident ID number with a valid GB 11643 check digit."""
    text = unicodedata.normalize("NFKC", raw).strip().upper()
    if not _CN_ID.match(text):
        raise InvalidIdentifier("not an 18-character resident ID number")
    total = sum(int(d) * w for d, w in zip(text[:17], _ID_WEIGHTS))
    if _ID_CHECK[total % 11] != text[17]:
        raise InvalidIdentifier("resident ID check digit does not match")
    return text


def normalize_address(raw: str) -> str:
    return "".join(unicodedata.normalize("NFKC", raw).lower().split())


NORMALIZERS: dict[str, Callable[[str], str]] = {
    "email": normalize_email,
    "cn_id": normalize_cn_id,
    "address": normalize_address,
}


def normalize(id_type: str, raw: str) -> str:
    if id_type in ("phone", "phone_masked"):
        return normalize_phone(raw).value
    return NORMALIZERS.get(id_type, normalize_token)(raw)


PLACEHOLDER_PHONES = frozenset({"+8613800138000", "+8613888888888", "+8613900000000", "+8613000000000",
                                 "+8618888888888"})
_REPEATED_DIGITS = re.compile(r"^(\d)\1{6,}$")
_TEST_EMAIL = re.compile(r"^(test|testing|null|none|noemail|no-?reply|anonymous|example|xxx|-1)"
                         r"(@|$)|@test\.com$")
PLACEHOLDER_TOKENS = frozenset({"null", "none", "nil", "undefined", "anonymous", "unknown", "-1", "0", "n/a",
                                "na", "test", "guest", "匿名", "无", "未知"})


def placeholder_reason(id_type: str, value: str) -> str | None:
    """Why a normalised identifier is a placeholder that must never link persons, or None.

    Shop staff and test scripts type `13800138000`, `00000000000`, `test@test.com` or `null` into
    contact fields; such values are shared by unrelated people, so they are dropped at ingest with
    this reason (visible in the quarantine) instead of becoming identity evidence.
    """
    if id_type == "phone":
        digits = value.lstrip("+")
        national = digits[2:] if value.startswith("+86") else digits
        if value in PLACEHOLDER_PHONES:
            return "placeholder phone number"
        if _REPEATED_DIGITS.match(national) or _REPEATED_DIGITS.match(national[1:]) or set(national[3:]) <= {"0"}:
            return "placeholder phone number (repeated digits)"
        return None
    if id_type == "email":
        return "placeholder e-mail address" if _TEST_EMAIL.search(value) else None
    if value.strip().lower() in PLACEHOLDER_TOKENS:
        return "placeholder value"
    return None


def mask_value(value: str, id_type: str = "") -> str:
    """Display form: phones keep prefix 3 and suffix 4, e-mails the first letter and domain,
    ID numbers the first 6 and last 4, names the first character, other tokens the ends."""
    if not value:
        return value
    if id_type in ("phone", "phone_masked") or (id_type == "" and value.lstrip("+").isdigit()):
        digits = value[3:] if value.startswith("+86") else value.lstrip("+")
        if "****" in digits:
            return digits
        return digits[:3] + "****" + digits[-4:] if len(digits) >= 8 else "*" * len(digits)
    if id_type == "email" or "@" in value:
        local, _, domain = value.partition("@")
        return f"{local[:1]}***@{domain}"
    if id_type == "cn_id":
        return value[:6] + "*" * (len(value) - 10) + value[-4:]
    if id_type == "name":
        return value[:1] + "*" * max(len(value) - 1, 1)
    if len(value) <= 4:
        return value[:1] + "***"
    return value[:2] + "***" + value[-2:]


class IdentifierHasher:
    """Keyed HMAC-SHA256 of normalised identifiers, with the type as domain separator.

    `hasher.hash("phone", "+8613812345678")`; the type keeps an e-mail and a nickname that happen to
    be the same text from colliding.
    """

    def __init__(self, key: bytes):
        self._base = hmac.new(key, digestmod=hashlib.sha256)

    def hash(self, id_type: str, value: str) -> str:
        h = self._base.copy()
        h.update(f"{id_type}\x1f{value}".encode())
        return h.hexdigest()

    def hash_array(self, id_type: str, values: pa.Array) -> pa.Array:
        """Hash a string array; nulls stay null. Each distinct value is hashed once."""
        return map_distinct(values, lambda v: self.hash(id_type, v))


def map_distinct(values: pa.Array | pa.ChunkedArray, fn: Callable[[str], str | None]) -> pa.Array:
    """Apply a Python function once per distinct non-null string and spread the results back."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    encoded = values.dictionary_encode()
    mapped = pa.array([fn(v) for v in encoded.dictionary.to_pylist()], type=pa.string())
    return mapped.take(encoded.indices)
