"""The adapter contract: one class per export format, registered with one object.

An adapter has a name, a default source, a header signature used for auto-detection, a mapping from
roles to the header names each platform version has used, and a `read()` that turns a `RawTable`
into canonical rows (each carrying its input `__line`) plus the problems it found.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from flywheel.collect.reading import (
    RawTable,
    clean_header,
    read_csv_table,
    strip_wrappers,
)
from flywheel.collect.values import Problems
from flywheel.identifiers import (
    IdentifierHasher,
    InvalidIdentifier,
    mask_value,
    normalize,
    normalize_phone,
    placeholder_reason,
)
from flywheel.schema.contacts import CONTACT_TYPES
from flywheel.warehouse import LINE, first_occurrence


@dataclass
class ReadContext:
    """What an adapter may use while reading: no warehouse access, so reading stays pure."""

    hasher: IdentifierHasher
    timezone: str = "Asia/Shanghai"
    currency: str = "CNY"
    source: str | None = None
    mapping: dict | None = None


@dataclass
class Batch:
    """Canonical rows from one file, per table, each with the `__line` it came from."""

    tables: dict[str, pa.Table] = field(default_factory=dict)
    problems: Problems | None = None
    source: str = ""

    def add(self, name: str, rows: pa.Table) -> None:
        """Add canonical rows. Identifier rows from `identifier_rows` carry the clear value of contact
        types; those are filed here as `contact_points` (sealed on write), so no adapter handles a
        raw contact itself and the identifiers table never sees one."""
        if name == "identifiers" and CONTACT in rows.column_names:
            contacts = contact_rows(rows)
            rows = rows.drop_columns([CONTACT])
            if contacts.num_rows:
                self.add("contact_points", contacts)
        if name in self.tables:
            self.tables[name] = pa.concat_tables([self.tables[name], rows], promote_options="permissive")
        else:
            self.tables[name] = rows


class Adapter:
    name: ClassVar[str] = ""
    source: ClassVar[str] = ""
    description: ClassVar[str] = ""
    signature: ClassVar[tuple[tuple[str, ...], ...]] = ()
    """Groups of header alternatives; every group must be present for auto-detection."""
    columns: ClassVar[dict[str, tuple[str, ...]]] = {}
    """Role → header names used for it across platform versions."""
    required: ClassVar[tuple[str, ...]] = ()
    extensions: ClassVar[tuple[str, ...]] = (".csv", ".tsv", ".txt")
    sources: ClassVar[tuple[str, ...]] = ()
    """Other source names this adapter reads (`--source tmall` uses the taobao adapter)."""
    sniff_by_extension: ClassVar[bool] = False
    """True when the file extension alone identifies the format (`.jsonl`)."""

    def parse(self, path: Path, data: bytes) -> RawTable:
        """The file's rows as strings with line numbers; CSV/TSV unless overridden."""
        return read_csv_table(path, data)

    def matches(self, header: list[str]) -> bool:
        present = set(header)
        return bool(self.signature) and all(
            any(clean_header(h) in present for h in group) for group in self.signature
        )

    def missing_required(self, header: list[str]) -> list[str]:
        present = set(header)
        return [
            self.columns[role][0]
            for role in self.required
            if not any(clean_header(h) in present for h in self.columns[role])
        ]

    def read(self, raw: RawTable, ctx: ReadContext) -> Batch:
        raise NotImplementedError


class Columns:
    """The file's columns by role, cleaned of Excel wrappers; absent roles read as all-null."""

    def __init__(self, raw: RawTable, roles: dict[str, tuple[str, ...]]):
        self.raw = raw
        self._roles = roles
        self._cache: dict[str, pa.Array] = {}

    def names(self) -> dict[str, str]:
        """The header each role was read from (or its documented name), so quarantine entries name
        the column the merchant sees in the file, whichever of the platform's spellings it used."""
        return {role: next((h for h in headers if clean_header(h) in self.raw.columns), headers[0])
                for role, headers in self._roles.items()}

    def has(self, role: str) -> bool:
        return self._header(role) is not None

    def _header(self, role: str) -> str | None:
        for h in self._roles.get(role, ()):
            if clean_header(h) in self.raw.columns:
                return clean_header(h)
        return None

    def __getitem__(self, role: str) -> pa.Array:
        if role not in self._cache:
            name = self._header(role)
            if name is None:
                self._cache[role] = pa.nulls(self.raw.num_rows, pa.string())
            else:
                self._cache[role] = strip_wrappers(self.raw.columns[name])
        return self._cache[role]


def lines_array(raw: RawTable) -> pa.Array:
    return pa.array(raw.lines, pa.int64())


def fill_within(keys: pa.Array, values: pa.Array) -> pa.Array:
    """Fill nulls with the value on the first row of the same key (continuation rows of an order)."""
    values = contiguous(values)
    if values.null_count == 0:
        return values
    return contiguous(pc.coalesce(values, values.take(pa.array(first_rows(keys)))))


_FIRST_ROWS: list[tuple[pa.Array, np.ndarray]] = []




def first_rows(keys: pa.Array) -> np.ndarray:
    """Index of the first row with the same key, per row (a null key points at its own row).

    Adapters ask this for the same key column many times per file, so the last few answers are kept.
    """
    for known, answer in _FIRST_ROWS:
        if known is keys:
            return answer
    answer = first_occurrence(np.asarray(pc.dictionary_encode(contiguous(keys)).indices.fill_null(-1), dtype=np.int64))
    _FIRST_ROWS.insert(0, (keys, answer))
    del _FIRST_ROWS[4:]
    return answer


def contiguous(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def join_text(*arrays: pa.Array, sep: str = " ") -> pa.Array:
    """Join text columns row by row, skipping missing parts; all-missing rows give null.

    (Arrow's `null_handling="skip"` drops all-null rows in some versions, so nulls are filled first.)
    """
    filled = [pc.fill_null(contiguous(a), "") for a in arrays]
    joined = pc.binary_join_element_wise(*filled, sep)
    joined = pc.utf8_trim(pc.replace_substring_regex(joined, f"(?:{_re_escape(sep)})+", sep), sep)
    return pc.if_else(pc.equal(joined, ""), pa.scalar(None, pa.string()), joined)


def _re_escape(text: str) -> str:
    import re

    return re.escape(text)




def identifier_rows(
    ctx: ReadContext,
    problems: Problems,
    *,
    source: str | pa.Array,
    account_key: pa.Array,
    id_type: str,
    values: pa.Array,
    seen_at: pa.Array,
    lines: pa.Array,
    field_name: str,
    region: str = "CN",
) -> pa.Table:
    """Normalised, hashed and masked identifier rows; invalid values are dropped with a reason.

    For `phone`, a marketplace-masked number becomes a partial `phone_masked` identifier. Values of
    the contact types (schema/contacts.py) also ride along in clear, in a private column that
    `Batch.add` turns into contact points.
    """
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    encoded = values.dictionary_encode()
    hashes, masks, kinds, partials, reasons, contacts = [], [], [], [], [], []
    for v in encoded.dictionary.to_pylist():
        try:
            if id_type == "phone":
                phone = normalize_phone(v, region)
                norm, kind, partial = phone.value, phone.id_type, phone.partial
            else:
                norm, kind, partial = normalize(id_type, v), id_type, False
            placeholder = placeholder_reason(kind, norm)
            if placeholder:
                raise InvalidIdentifier(placeholder)
            hashes.append(ctx.hasher.hash(kind, norm))
            masks.append(mask_value(norm, kind))
            kinds.append(kind)
            partials.append(partial)
            reasons.append(None)
            contacts.append(norm if kind in CONTACT_TYPES else None)
        except InvalidIdentifier as e:
            hashes.append(None), masks.append(None), kinds.append(None), partials.append(None)
            reasons.append(str(e)), contacts.append(None)
    ix = encoded.indices
    reason = pa.array(reasons, pa.string()).take(ix)
    for why in {r for r in reasons if r is not None}:
        problems.drop(np.asarray(pc.equal(reason, why).fill_null(False)), field_name, values, why, personal=id_type)
    hashed = pa.array(hashes, pa.string()).take(ix)
    take = (
        np.asarray(pc.is_valid(hashed))
        & ~problems.rejected
        & np.asarray(pc.is_valid(account_key))
    )
    idx = pa.array(np.flatnonzero(take), pa.int64())
    src = source.take(idx) if isinstance(source, pa.Array) else pa.array([source] * len(idx), pa.string())
    return pa.table({
        "source": src,
        "account_key": account_key.take(idx),
        "id_type": pa.array(kinds, pa.string()).take(ix).take(idx),
        "id_hash": hashed.take(idx),
        "id_masked": pa.array(masks, pa.string()).take(ix).take(idx),
        "is_partial": pa.array(partials, pa.bool_()).take(ix).take(idx),
        "first_seen_at": seen_at.take(idx),
        CONTACT: pa.DictionaryArray.from_arrays(ix.take(idx), pa.array(contacts, pa.string())),
        LINE: lines.take(idx),
    })


CONTACT = "__contact"
"""Private column of identifier rows: the normalised value of a contact type (dictionary-encoded;
its dictionary holds null for values of other types)."""


def contact_rows(identifiers: pa.Table) -> pa.Table:
    """Contact points from identifier rows that carry a contact value: one row per account and value,
    with the earliest and latest time among its rows (in linear-ish time on integer codes, so a
    million-row export does not copy its identifier strings again)."""
    column = contiguous(identifiers.column(CONTACT))
    codes = column.indices.to_numpy(zero_copy_only=False)
    has_value = np.asarray(pc.is_valid(column.dictionary))
    rows = np.flatnonzero(has_value[codes]) if len(codes) else np.array([], np.int64)
    if len(rows) == 0:
        return pa.table({"source": pa.array([], pa.string())})
    parts = [codes[rows].astype(np.int64)]
    for name in ("account_key", "source"):
        encoded = pc.dictionary_encode(contiguous(identifiers.column(name)))
        parts.append(encoded.indices.to_numpy(zero_copy_only=False)[rows].astype(np.int64))
    key = parts[0]
    width = len(column.dictionary)
    for part in parts[1:]:
        key, width = key + part * width, width * (int(part.max()) + 1)
    order = np.argsort(key, kind="stable")
    ordered = key[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    seen = pc.cast(contiguous(identifiers.column("first_seen_at")), pa.int64())
    times = np.asarray(seen.fill_null(0))[rows][order]
    known = np.asarray(seen.is_valid())[rows][order]
    big, small = np.iinfo(np.int64).max, np.iinfo(np.int64).min
    first = np.minimum.reduceat(np.where(known, times, big), starts)
    last = np.maximum.reduceat(np.where(known, times, small), starts)
    picked = identifiers.take(pa.array(rows[order[starts]]))
    ts = identifiers.schema.field("first_seen_at").type

    def instants(values: np.ndarray) -> pa.Array:
        return pa.array(values, pa.int64(), mask=np.isin(values, (big, small))).cast(ts)

    return pa.table({
        "source": picked.column("source"), "account_key": picked.column("account_key"),
        "id_type": picked.column("id_type"), "id_hash": picked.column("id_hash"),
        "value": pc.cast(picked.column(CONTACT), pa.string()), "value_masked": picked.column("id_masked"),
        "first_seen_at": instants(first), "last_seen_at": instants(last), LINE: picked.column(LINE),
    })
