"""Aggregated customer paths: the input of every attribution model.

A path is the ordered channels a group of persons touched, with how many of them converted, how
many did not (the null count) and what the conversions were worth. The path-file form is the one
ChannelAttribution users already have: one row per distinct path, channels joined by a separator
(`facebook > email > direct`), counts in columns.
"""

from __future__ import annotations

import contextlib
import csv
import io
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

from flywheel.errors import InputError


@dataclass(frozen=True)
class Rejected:
    """A path-file row left out, and why (file, line, column)."""

    line: int
    field: str
    reason: str

    def as_dict(self) -> dict:
        return {"line": self.line, "field": self.field, "reason": self.reason}


@dataclass
class Paths:
    """Distinct paths with their conversions, nulls and value (rows with the same path summed)."""

    touches: list[tuple[str, ...]] = field(default_factory=list)
    conversions: list[float] = field(default_factory=list)
    nulls: list[float] = field(default_factory=list)
    values: list[Decimal] = field(default_factory=list)
    has_nulls: bool = False
    has_values: bool = False
    rejected: list[Rejected] = field(default_factory=list)

    def add(self, touches: tuple[str, ...], conversions: float, nulls: float = 0.0,
            value: Decimal = Decimal(0)) -> None:
        self.touches.append(touches)
        self.conversions.append(float(conversions))
        self.nulls.append(float(nulls))
        self.values.append(value)

    @property
    def channels(self) -> list[str]:
        return sorted({c for t in self.touches for c in t})

    @property
    def total_conversions(self) -> float:
        return sum(self.conversions)

    @property
    def total_value(self) -> Decimal:
        return sum(self.values, Decimal(0))


@contextlib.contextmanager
def open_csv(path: Path):
    """A CSV file as text, decoded as ingest decodes exports (UTF-8, with or without a BOM, or
    GB18030); a file that cannot be read or decoded, or is not CSV, ends in one line saying so."""
    from flywheel.collect import decode

    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        text, _ = decode(data)
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None
    try:
        yield io.StringIO(text.decode("utf-8"), newline="")
    except csv.Error as exc:
        raise InputError(f"{path}: not readable as CSV ({exc})") from None


def collapse(touches: tuple[str, ...]) -> tuple[str, ...]:
    """Consecutive repeats of a channel are one visit (`a > a > b` is `a > b`)."""
    out: list[str] = []
    for c in touches:
        if not out or out[-1] != c:
            out.append(c)
    return tuple(out)


def split_path(text: str, sep: str) -> tuple[str, ...]:
    """Channels of a path text, each trimmed of surrounding spaces; empty parts are an error."""
    parts = tuple(p.strip() for p in text.split(sep))
    return parts if all(parts) else ()


def _number(text: str | None) -> float | None:
    try:
        value = float((text or "").strip())
    except ValueError:
        return None
    return value if value == value and value >= 0 and value != float("inf") else None


def read_path_file(path: Path, path_col: str, conv_col: str, value_col: str | None = None,
                   null_col: str | None = None, sep: str = ">") -> Paths:
    """Read a path file. A missing column fails at once with the columns the file has; a bad row
    (empty path or channel, a count that is not a non-negative number) is left out and listed in
    `rejected` with its line and column; every other row counts."""
    if not sep:
        raise InputError("--sep must not be empty")
    found = Paths(has_nulls=null_col is not None, has_values=value_col is not None)
    with open_csv(path) as handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        for option, col in (("--path-col", path_col), ("--conv-col", conv_col), ("--value-col", value_col),
                            ("--null-col", null_col)):
            if col is not None and col not in header:
                raise InputError(f"{path}: no column {col!r} ({option}); the file has {', '.join(header) or 'none'}")
        index: dict[tuple[str, ...], int] = {}
        for row in reader:
            line = reader.line_num
            touches = split_path(row.get(path_col) or "", sep)
            if not touches:
                found.rejected.append(Rejected(line, path_col, f"empty path or channel in {row.get(path_col)!r}"))
                continue
            counts = {}
            bad = None
            for col in (conv_col, null_col):
                if col is None:
                    continue
                counts[col] = _number(row.get(col))
                if counts[col] is None:
                    bad = Rejected(line, col, f"not a non-negative number: {row.get(col)!r}")
                    break
            value = Decimal(0)
            if bad is None and value_col is not None:
                try:
                    value = Decimal((row.get(value_col) or "").strip())
                    if not value.is_finite() or value < 0:
                        raise InvalidOperation
                except InvalidOperation:
                    bad = Rejected(line, value_col, f"not a non-negative amount: {row.get(value_col)!r}")
            if bad is not None:
                found.rejected.append(bad)
                continue
            conv, nulls = counts[conv_col], counts.get(null_col, 0.0) if null_col else 0.0
            if touches in index:
                i = index[touches]
                found.conversions[i] += conv
                found.nulls[i] += nulls
                found.values[i] += value
            else:
                index[touches] = len(found.touches)
                found.add(touches, conv, nulls, value)
    return found
