"""Vectorised parsing of export values (money, times, counts) with a reason for every failure.

Each parser returns the parsed column and a boolean mask of values that were present but could not
be parsed; the adapter decides whether that rejects the row or only drops the value.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from flywheel.identifiers import mask_value

UTC_US = pa.timestamp("us", tz="UTC")

_NAIVE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d")
_ISO_FORMATS = ("%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M%z")


def _present(values: pa.Array) -> pa.Array:
    return pc.is_valid(values)


def _bad(values: pa.Array, parsed: pa.Array) -> np.ndarray:
    return np.asarray(pc.and_(_present(values), pc.is_null(parsed)).fill_null(False))


def parse_money(values: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """Integer cents from `1,299.00`, `¥1299`, `￥12.5`, `$3`; exact, never through floats."""
    text = pc.replace_substring_regex(values, r"[\s,¥￥$€£]|^CNY|^RMB|^USD|元$", "")
    parts = pc.extract_regex(text, r"^(?P<sign>-?)(?P<whole>\d{1,15})(?:\.(?P<frac>\d{0,2})0*)?$")
    whole = pc.cast(pc.struct_field(parts, "whole"), pa.int64())
    frac = pc.cast(pc.utf8_rpad(pc.struct_field(parts, "frac"), 2, "0"), pa.int64())
    cents = pc.add(pc.multiply(whole, 100), frac)
    cents = pc.if_else(pc.equal(pc.struct_field(parts, "sign"), "-"), pc.negate(cents), cents)
    return cents, _bad(values, cents)


def parse_int(values: pa.Array) -> tuple[pa.Array, np.ndarray]:
    text = pc.replace_substring_regex(values, r"[\s,]|\.0+$", "")
    ok = pc.match_substring_regex(text, r"^-?\d{1,18}$").fill_null(False)
    parsed = pc.cast(pc.if_else(ok, text, pa.scalar(None, pa.string())), pa.int64())
    return parsed, _bad(values, parsed)


def parse_time(values: pa.Array, tz: str) -> tuple[pa.Array, np.ndarray]:
    """UTC instants from the date-time forms in docs/connectors.md; naive times are in `tz`.

    The common `2024-03-05 14:02:11` form is parsed in one pass; only the rest take the slower path
    that rewrites separators and tries every form.
    """
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    fast = pc.strptime(values, format=_NAIVE_FORMATS[0], unit="us", error_is_null=True)
    result = pc.cast(pc.assume_timezone(fast, timezone=tz, ambiguous="earliest", nonexistent="earliest"), UTC_US)
    pending = pc.and_(pc.is_valid(values), pc.is_null(result))
    if pc.any(pending).as_py():
        iso = pc.strptime(values, format=_ISO_FORMATS[0], unit="us", error_is_null=True)
        result = pc.coalesce(result, pc.cast(iso, UTC_US))
        pending = pc.and_(pc.is_valid(values), pc.is_null(result))
    if pc.any(pending).as_py():
        slow = _parse_time_slow(values.filter(pending), tz)
        result = pc.replace_with_mask(result, pending, slow)
    plausible = pc.and_(pc.greater(result, pa.scalar(dt.datetime(1990, 1, 1, tzinfo=dt.timezone.utc), UTC_US)),
                        pc.less(result, pa.scalar(dt.datetime(2100, 1, 1, tzinfo=dt.timezone.utc), UTC_US)))
    result = pc.if_else(plausible, result, pa.scalar(None, UTC_US))
    result = pc.if_else(pa.array(_impossible_dates(values)), pa.scalar(None, UTC_US), result)
    return result, _bad(values, result)


_DAYS = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])


def _impossible_dates(values: pa.Array) -> np.ndarray:
    """Dates such as 2024-02-30 that Arrow's parser would roll into the next month."""
    parts = pc.extract_regex(values, r"^(?P<y>\d{4})\D(?P<m>\d{1,2})\D(?P<d>\d{1,2})")
    y, m, d = (np.asarray(pc.cast(pc.struct_field(parts, k), pa.int64()).fill_null(0)) for k in ("y", "m", "d"))
    found = np.asarray(pc.is_valid(parts))
    leap = ((y % 4 == 0) & (y % 100 != 0)) | (y % 400 == 0)
    month_ok = (m >= 1) & (m <= 12)
    days = _DAYS[np.where(month_ok, m, 0)] + (leap & (m == 2))
    return found & (~month_ok | (d < 1) | (d > days))


def _parse_time_slow(values: pa.Array, tz: str) -> pa.Array:
    text = pc.replace_substring_regex(values, r"(:\d\d)[.,]\d+", r"\1")
    text = pc.replace_substring_regex(text, r"\s*(UTC|GMT)$", "Z")
    text = pc.replace_substring_regex(text, r"^(\d{4})[年/.-](\d{1,2})[月/.-](\d{1,2})日?", r"\1-\2-\3")
    text = pc.replace_substring_regex(
        text, r"^(\d{4}-\d{1,2}-\d{1,2})[ T](\d{1,2}:\d\d(?::\d\d)?) ?(Z|[+-]\d\d:?\d\d)$", r"\1T\2\3")
    iso = pc.match_substring_regex(text, r"T.*(Z|[+-]\d\d:?\d\d)$").fill_null(False)
    iso_text = pc.replace_substring_regex(pc.replace_substring_regex(text, "Z$", "+0000"), r"([+-]\d\d):(\d\d)$", r"\1\2")
    naive_text = pc.replace_substring(text, "T", " ")
    result = pa.nulls(len(values), UTC_US)
    for fmt in _ISO_FORMATS:
        parsed = pc.cast(pc.strptime(iso_text, format=fmt, unit="us", error_is_null=True), UTC_US)
        result = pc.coalesce(result, pc.if_else(iso, parsed, pa.scalar(None, UTC_US)))
    for fmt in _NAIVE_FORMATS:
        parsed = pc.strptime(naive_text, format=fmt, unit="us", error_is_null=True)
        local = pc.assume_timezone(parsed, timezone=tz, ambiguous="earliest", nonexistent="earliest")
        result = pc.coalesce(result, pc.if_else(iso, pa.scalar(None, UTC_US), pc.cast(local, UTC_US)))
    epoch = pc.match_substring_regex(values, r"^\d{9,10}$").fill_null(False)
    if pc.any(epoch).as_py():
        seconds = pc.cast(pc.if_else(epoch, values, pa.scalar(None, pa.string())), pa.int64())
        result = pc.coalesce(result, pc.cast(pc.multiply(seconds, 1_000_000), UTC_US))
    return result


def map_values(values: pa.Array, mapping: dict[str, str]) -> tuple[pa.Array, np.ndarray]:
    """Map platform vocabulary (status texts) to ours; unknown present values are flagged."""
    keys = pa.array(list(mapping), pa.string())
    idx = pc.index_in(values, value_set=keys)
    mapped = pc.take(pa.array(list(mapping.values()), pa.string()), idx)
    return mapped, _bad(values, mapped)


@dataclass
class Problems:
    """Row rejections and dropped values found while an adapter validates a file.

    `personal` marks values masked before they are stored in quarantine; give the identifier type
    (`"cn_id"`, `"email"`) to mask them in that type's display form.
    """

    num_rows: int
    rejected: np.ndarray = field(init=False)
    entries: list[tuple[np.ndarray, str, pa.Array | None, str, str, bool]] = field(default_factory=list)

    def __post_init__(self):
        self.rejected = np.zeros(self.num_rows, dtype=bool)

    def reject(self, mask, field_name: str, values: pa.Array | None, reason: str, personal: bool | str = False) -> None:
        """Rows where `mask` holds do not land; each gets a quarantine entry."""
        mask = np.asarray(mask, dtype=bool)
        if mask.any():
            self.rejected |= mask
            self.entries.append((mask, field_name, values, reason, "row_rejected", personal))

    def drop(self, mask, field_name: str, values: pa.Array | None, reason: str, personal: bool | str = False) -> None:
        """The row lands without this value; the value is recorded in quarantine."""
        mask = np.asarray(mask, dtype=bool)
        if mask.any():
            self.entries.append((mask, field_name, values, reason, "value_dropped", personal))

    def require(self, values: pa.Array, field_name: str, reason: str = "required value is missing") -> None:
        self.reject(np.asarray(pc.is_null(values)), field_name, None, reason)

    def _parsed(self, parser, values: pa.Array, field_name: str, reason: str, required: bool) -> pa.Array:
        parsed, bad = parser(values)
        if required:
            self.require(values, field_name)
            self.reject(bad, field_name, values, reason)
        else:
            self.drop(bad, field_name, values, reason)
        return parsed

    def time(self, values: pa.Array, field_name: str, tz: str, required: bool = False) -> pa.Array:
        """Parsed date-times; an unparseable one rejects the row if `required`, else is dropped."""
        return self._parsed(lambda v: parse_time(v, tz), values, field_name, "unparseable date-time", required)

    def money(self, values: pa.Array, field_name: str, required: bool = False) -> pa.Array:
        """Parsed money in cents, with the same rule as `time`."""
        return self._parsed(parse_money, values, field_name, "not an amount of money", required)

    def count(self, values: pa.Array, field_name: str, required: bool = False) -> pa.Array:
        """Parsed whole numbers, with the same rule as `time`."""
        return self._parsed(parse_int, values, field_name, "not a whole number", required)

    def table(self, run_id: str, file: str, lines: np.ndarray) -> pa.Table:
        cols: dict[str, list] = {k: [] for k in ("run_id", "file", "line", "field", "value", "reason", "action")}
        for mask, field_name, values, reason, action, personal in self.entries:
            if action == "value_dropped":
                mask = mask & ~self.rejected
            rows = np.flatnonzero(mask)
            shown = values.take(pa.array(rows)).to_pylist() if values is not None else [None] * len(rows)
            for row, value in zip(rows, shown):
                if value is not None:
                    value = mask_value(value, personal if isinstance(personal, str) else "") if personal else value[:200]
                cols["run_id"].append(run_id)
                cols["file"].append(file)
                cols["line"].append(int(lines[row]))
                cols["field"].append(field_name)
                cols["value"].append(value)
                cols["reason"].append(reason)
                cols["action"].append(action)
        return pa.table(cols, schema=pa.schema([
            ("run_id", pa.string()), ("file", pa.string()), ("line", pa.int64()), ("field", pa.string()),
            ("value", pa.string()), ("reason", pa.string()), ("action", pa.string()),
        ]))
