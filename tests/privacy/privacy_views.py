"""The test's own oracle for person-level outputs: what was shown beside what is stored, cell by cell,
each cell graded by the catalog field it comes from. A role must see every cell at or below its level
exactly as stored, and no cell above it as stored. The grading here is declared independently of
the code under test, so a column the code grades wrongly (too high or too low) fails."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from flywheel.schema import table as catalog_table


@dataclass(frozen=True)
class Cell:
    label: str
    """Where the value comes from: a catalog `table.field`, or a derived name."""
    level: int
    shown: object
    stored: object


def norm(value):
    """Both sides as the JSON output carries them (times as text)."""
    return json.loads(json.dumps(value, ensure_ascii=False, default=str))


def level(label: str | int) -> int:
    """The catalog level of `table.field` (an int is a derived value's level, declared by the test)."""
    if isinstance(label, int):
        return label
    table, field = label.split(".")
    return catalog_table(table).field(field).level


def row_cells(table: str, shown: list[dict], stored: list[dict], columns: dict[str, str | int] | None = None,
              where: str = "") -> list[Cell]:
    """Cells of rows of `table`: every stored column must be present; `columns` names the catalog field
    (or the level) of columns that are not `table`'s own."""
    columns = columns or {}
    assert len(shown) == len(stored), (where or table, len(shown), len(stored))
    cells = []
    for s, r in zip(shown, stored):
        assert set(s) == set(r), (where or table, sorted(set(s) ^ set(r)))
        for name, value in r.items():
            source = columns.get(name, f"{table}.{name}")
            label = source if isinstance(source, str) else f"{where or table}.{name}"
            cells.append(Cell(label, level(source), s[name], value))
    return cells


def csv_rows(path: Path) -> list[dict]:
    """A written CSV, empty cells as None (pyarrow writes a withheld value as an empty cell)."""
    with path.open(encoding="utf-8", newline="") as f:
        return [{k: (v if v != "" else None) for k, v in row.items()} for row in csv.DictReader(f)]


def problems(role, cells: list[Cell]) -> list[str]:
    """What the role was shown wrongly: an allowed value missing or altered, or a higher one in clear."""
    found = []
    for c in cells:
        if c.stored is None or c.stored == "":
            continue
        if c.level <= role.level and c.shown != c.stored:
            found.append(f"{c.label} (L{c.level}) not in clear for {role.name} (L{role.level}): "
                         f"{c.shown!r} instead of {c.stored!r}")
        elif c.level > role.level and c.shown == c.stored:
            found.append(f"{c.label} (L{c.level}) in clear for {role.name} (L{role.level})")
    return found


EXPORT_COLUMNS = {
    "accounts": {"source": "accounts.source", "account_key": "accounts.account_key", "person_id": "persons.person_id"},
    "orders": {"source": "orders.source", "order_id": "orders.order_id", "person_id": "persons.person_id"},
}
"""Where each column of `identity export --of KIND` comes from."""


def stored_mapping(wh, of: str) -> list[dict]:
    """The account → person or order → person mapping as stored, in the export's order."""
    from flywheel.warehouse import account_persons

    persons = account_persons(wh)
    if of == "accounts":
        expr = persons.order_by(["source", "account_key"])
    else:
        orders = wh.table("orders")
        expr = orders.join(persons, ["source", "account_key"]).select("source", "order_id", "person_id").order_by(
            ["source", "order_id"])
    return wh.fetch(expr).to_pylist()


def export_cells(of: str, written: Path, wh) -> list[Cell]:
    return row_cells(of, csv_rows(written), stored_mapping(wh, of), EXPORT_COLUMNS[of], where=f"export {of}")
