"""The disclosure gate: every path that shows or writes person-level data passes its records through
a `Disclosure` for the acting role, which masks or withholds each field the catalog grades above the
role's level. There is no second list of what is sensitive: the field catalog is the list.

    d = Disclosure(role_named("analyst"))
    d.record("accounts", {"account_key": "tb_小明", "name": "王小明", "province": "浙江"})
    # {'account_key': 'tb***明', 'name': '王**', 'province': '浙江'}   (masked: account_key, name)
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import pyarrow as pa

from flywheel.identifiers import mask_value
from flywheel.privacy.roles import Role
from flywheel.schema import table as catalog_table

UNKNOWN_LEVEL = 5
"""A field the catalog does not know is treated as the most sensitive: new outputs fail closed."""

MASK_AS = {"name": "name", "receiver_name": "name"}
"""Fields whose masked form follows an identifier type (names keep their first character)."""


@functools.lru_cache(maxsize=None)
def level_of(table: str, name: str) -> int:
    """The catalog level of `table.name` (cached: the catalog is fixed, and a journey tick grades
    ~80 fields of 100,000 persons, where the linear field lookup took minutes)."""
    try:
        return catalog_table(table).field(name).level
    except KeyError:
        return UNKNOWN_LEVEL


def _maskable(name: str, level: int, value) -> bool:
    """Masking keeps a recognisable shape; hashes, L5 values and non-text are withheld instead."""
    return isinstance(value, str) and 3 <= level < 5 and not name.endswith(("hash", "name_key")) and bool(value)


def _mask(name: str, value: str) -> str:
    """Contact shapes as `mask_value` draws them; short keys and nicknames keep only their first character."""
    kind = MASK_AS.get(name, "")
    looks_contact = "@" in value or value.lstrip("+").isdigit()
    if kind or looks_contact or len(value) > 8:
        return mask_value(value, kind)
    return value[:1] + "***"


Fields = dict[str, str]
"""Output column → the catalog `table.field` its values come from (for outputs that join tables)."""


def _source(table: str, name: str, fields: Fields | None) -> tuple[str, str]:
    """The catalog (table, field) an output column is graded by: as declared, else `table`'s own."""
    label = (fields or {}).get(name)
    if label is None:
        return table, name
    source, sep, field_name = label.partition(".")
    if not sep:
        raise ValueError(f"{name!r}: declare its catalog field as table.field, got {label!r}")
    return source, field_name


@dataclass
class Disclosure:
    """What one role sees of catalog records; remembers what it masked, withheld and showed in clear.

    Each value is graded by the catalog field it comes from: by default the field of the same name in
    `table`; `fields` declares another source for a column (a person id beside account columns is
    `person_accounts.person_id`); `levels` grades derived values that no catalog field holds. A
    column neither declared nor in the catalog is treated as L5 (fail closed)."""

    role: Role
    masked: set[str] = field(default_factory=set)
    withheld: set[str] = field(default_factory=set)
    revealed: set[str] = field(default_factory=set)
    """Fields of level 4 or more shown unmasked: such reads are privileged and audited."""

    def value(self, table: str, name: str, value, level: int | None = None):
        """One value of catalog field `table.name` (or of a derived value of the given level)."""
        level = level_of(table, name) if level is None else level
        label = f"{table}.{name}"
        if value is None:
            return None
        if level <= self.role.level:
            if level >= 4:
                self.revealed.add(label)
            return value
        if _maskable(name, level, value):
            self.masked.add(label)
            return _mask(name, value)
        self.withheld.add(label)
        return None

    def _grade(self, table: str, name: str, levels: dict[str, int] | None,
               fields: Fields | None) -> tuple[str, str, int]:
        if levels and name in levels:
            return table, name, levels[name]
        source, field_name = _source(table, name, fields)
        return source, field_name, level_of(source, field_name)

    def record(self, table: str, row: dict, levels: dict[str, int] | None = None, *,
               fields: Fields | None = None) -> dict:
        """`row` with every field disclosed as the catalog grades it (see the class docstring)."""
        out = {}
        for k, v in row.items():
            source, field_name, level = self._grade(table, k, levels, fields)
            out[k] = self.value(source, field_name, v, level)
        return out

    def records(self, table: str, rows: list[dict], levels: dict[str, int] | None = None, *,
                fields: Fields | None = None) -> list[dict]:
        return [self.record(table, r, levels, fields=fields) for r in rows]

    def arrow(self, table: str, data: pa.Table, *, fields: Fields | None = None) -> pa.Table:
        """A whole Arrow table disclosed column by column (for CSV and file exports)."""
        cols = []
        for name, col in zip(data.column_names, data.columns):
            source, field_name, level = self._grade(table, name, None, fields)
            if level <= self.role.level:
                if level >= 4 and data.num_rows:
                    self.revealed.add(f"{source}.{field_name}")
                cols.append(col)
                continue
            values = [self.value(source, field_name, v, level) for v in col.to_pylist()]
            cols.append(pa.array(values, col.type))
        return pa.Table.from_arrays(cols, names=data.column_names)

    def summary(self) -> dict:
        """What was hidden, for the output itself: users see that a field was masked, not that it is empty."""
        return {"role": self.role.name, "level": self.role.level,
                "masked": sorted(self.masked), "withheld": sorted(self.withheld)}
