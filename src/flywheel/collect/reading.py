"""Read an export file into string columns with the physical line number of every row.

Real exports arrive as GB18030 or UTF-8 with a BOM, comma- or tab-separated, with ragged rows.
Parsing uses Arrow's multi-threaded CSV reader; line numbers come from a vectorised scan for
record-ending newlines (outside quotes), so a quarantined row names the line a person can open.
"""

from __future__ import annotations

import codecs
import csv
import io
import logging
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from flywheel.errors import InputError

log = logging.getLogger(__name__)


@dataclass
class RejectedLine:
    line: int
    reason: str
    text: str = ""


@dataclass
class RawTable:
    """A file's header and rows as strings, before any adapter has looked at the values."""

    path: Path
    encoding: str
    header: list[str]
    columns: dict[str, pa.Array]
    lines: np.ndarray
    rejected: list[RejectedLine] = field(default_factory=list)

    @property
    def num_rows(self) -> int:
        return len(self.lines)

    def column(self, name: str) -> pa.Array | None:
        return self.columns.get(name)


def clean_header(name: str) -> str:
    """Header names compared tolerantly: NFKC, BOM and spaces stripped, ASCII lower-cased."""
    text = unicodedata.normalize("NFKC", name).replace("\ufeff", "").strip().strip('"').strip()
    return " ".join(text.split()).lower()


def decode(data: bytes) -> tuple[bytes, str]:
    """UTF-8 bytes of the file and the encoding it arrived in (utf-8, utf-8-sig or gb18030)."""
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8):], "utf-8-sig"
    try:
        data.decode("utf-8")
        return data, "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030").encode("utf-8"), "gb18030"
    except UnicodeDecodeError as e:
        raise InputError(f"cannot decode as UTF-8 or GB18030 (byte {e.start})") from None


def header_of(text: bytes) -> tuple[list[str], str]:
    """The cleaned header names and the delimiter (tab when the header has more tabs than commas)."""
    first = text.split(b"\n", 1)[0].decode("utf-8").rstrip("\r")
    delimiter = "\t" if first.count("\t") > first.count(",") else ","
    names = next(csv.reader([first], delimiter=delimiter), [])
    return [clean_header(n) for n in names], delimiter


def _record_starts(text: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Byte start, byte end and first physical line of every non-blank record."""
    buf = np.frombuffer(text, dtype=np.uint8)
    newlines = np.flatnonzero(buf == 10)
    quotes = np.flatnonzero(buf == 34)
    if len(quotes):
        inside = np.searchsorted(quotes, newlines) % 2 == 1
        separators = newlines[~inside]
        line_of_sep = np.flatnonzero(~inside)
    else:
        separators = newlines
        line_of_sep = np.arange(len(newlines))
    ends = np.append(separators, len(buf))
    starts = np.concatenate(([0], separators + 1))
    first_line = np.concatenate(([1], line_of_sep + 2))
    length = ends - starts
    blank = length == 0
    cr = length == 1
    if cr.any():
        blank |= cr & (buf[np.minimum(starts, len(buf) - 1)] == 13)
    keep = ~blank
    return starts[keep], ends[keep], first_line[keep]


def _field_counts(text: bytes, starts: np.ndarray, ends: np.ndarray, delimiter: str) -> np.ndarray:
    """Fields per record, counting delimiters outside quotes (only needed when rows are ragged)."""
    buf = np.frombuffer(text, dtype=np.uint8)
    delims = np.flatnonzero(buf == ord(delimiter))
    quotes = np.flatnonzero(buf == 34)
    if len(quotes):
        delims = delims[np.searchsorted(quotes, delims) % 2 == 0]
    return np.searchsorted(delims, ends) - np.searchsorted(delims, starts) + 1


def read_csv_table(path: Path, data: bytes) -> RawTable:
    text, encoding = decode(data)
    if not text.strip():
        raise InputError("file is empty")
    header, delimiter = header_of(text)
    if not any(header):
        raise InputError("first line is not a header row")
    names = _unique_names(header)
    starts, ends, first_lines = _record_starts(text)
    record_lines = first_lines[1:]
    invalid: list[str] = []

    def on_invalid(row):
        invalid.append(row.text)
        return "skip"

    table = pacsv.read_csv(
        io.BytesIO(text),
        read_options=pacsv.ReadOptions(column_names=names, skip_rows=1, block_size=1 << 24),
        parse_options=pacsv.ParseOptions(delimiter=delimiter, invalid_row_handler=on_invalid, newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types={n: pa.string() for n in names}, strings_can_be_null=False, quoted_strings_can_be_null=False
        ),
    )
    rejected: list[RejectedLine] = []
    lines = record_lines
    if invalid:
        counts = _field_counts(text, starts[1:], ends[1:], delimiter)
        bad = counts != len(names)
        for line, n, s, e in zip(record_lines[bad], counts[bad], starts[1:][bad], ends[1:][bad]):
            snippet = text[s:e].decode("utf-8", "replace").rstrip("\r")
            rejected.append(RejectedLine(int(line), f"expected {len(names)} fields, found {int(n)}", snippet))
        lines = record_lines[~bad]
    if len(lines) != table.num_rows:
        log.warning("%s: line numbers unavailable (%d rows, %d records)", path, table.num_rows, len(lines))
        lines = np.arange(2, table.num_rows + 2)
    columns = {n: table.column(n).combine_chunks() for n in names}
    return RawTable(Path(path), encoding, header, columns, lines.astype(np.int64), rejected)


def _unique_names(header: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for i, name in enumerate(header):
        name = name or f"column_{i + 1}"
        if name in seen:
            seen[name] += 1
            name = f"{name}.{seen[name]}"
        else:
            seen[name] = 0
        out.append(name)
    return out


def strip_wrappers(values: pa.Array) -> pa.Array:
    """Remove Excel protection wrappers (`="123"`, leading `'` or tab) and surrounding spaces;
    empty strings become null. Regexes run only when a wrapper is present."""
    v = pc.utf8_trim_whitespace(values)
    if pc.any(pc.starts_with(v, "=")).as_py():
        v = pc.replace_substring_regex(v, r'^="(.*)"$', r"\1")
    if pc.any(pc.starts_with(v, "'")).as_py() or pc.any(pc.starts_with(v, "\t")).as_py():
        v = pc.utf8_trim_whitespace(pc.replace_substring_regex(v, r"^['\t]+", ""))
    return pc.if_else(pc.equal(v, ""), pa.scalar(None, pa.string()), v)
