"""The test's own oracle for person-level outputs: what was shown beside what is stored, cell by cell,
each cell graded by the catalog field it comes from. A role must see every cell at or below its level
exactly as stored, and no cell above it as stored. The grading here is declared independently of
the code under test, so a column the code grades wrongly (too high or too low) fails.

One `View` per person-level command: how to call the capability, how to run the CLI, and how to
read what was shown against the stored, undisclosed data of the same warehouse.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from flywheel.schema import TABLES
from flywheel.schema import table as catalog_table

ALWAYS = 0
"""Level of what every permitted role must get in clear (the subject's own copy, audit entries)."""


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


def level(source: str | int) -> int:
    """The catalog level of `table.field` (an int is a derived value's level, declared by the test)."""
    if isinstance(source, int):
        return source
    table, field = source.split(".")
    return catalog_table(table).field(field).level


def row_cells(table: str, shown: list[dict], stored: list[dict], columns: dict[str, str | int] | None = None,
              where: str = "") -> list[Cell]:
    """Cells of rows of `table`: every stored column must be present; `columns` names the catalog field
    (or the level) of columns that are not `table`'s own."""
    columns = columns or {}
    where = where or table
    assert len(shown) == len(stored), (where, len(shown), len(stored))
    cells = []
    for s, r in zip(shown, stored):
        assert set(s) == set(r), (where, sorted(set(s) ^ set(r)))
        for name, value in r.items():
            source = columns.get(name, f"{table}.{name}")
            label = source if isinstance(source, str) else f"{where}.{name}"
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


def reveals(role, cells: list[Cell]) -> bool:
    """Whether the output shows the role an L4+ value in clear (a privileged, audited read)."""
    return any(4 <= c.level <= role.level and c.stored not in (None, "") for c in cells)


def stored_values(wh, min_level: int) -> dict[str, set[str]]:
    """Stored text values per `table.field` of at least `min_level`, long enough not to occur by chance."""
    found: dict[str, set[str]] = {}
    for t in TABLES:
        for f in t.fields:
            if f.level < min_level or f.type != "string":
                continue
            if f.sealed:  # the clear value is the secret: open it as the warehouse would
                rows = wh.sealer.unseal(t.name, wh.fetch(wh.table(t.name).select("source", "account_key", f.name)))
                column = rows.column(f.name).to_pylist()
            else:
                column = wh.fetch(wh.table(t.name)[f.name].name("v").as_table().distinct()).column(0).to_pylist()
            values = {v for v in column if v and len(v) >= 6}
            if values:
                found[f"{t.name}.{f.name}"] = values
    return found


def leaks(role, text: str, secrets: dict[str, set[str]], ignore: tuple[str, ...] = ()) -> dict[str, list[str]]:
    """Stored values above the role's level that appear anywhere in `text` (`ignore`: label endings
    the output shows by design, such as the actor of an audit entry)."""
    found = {}
    for label, values in secrets.items():
        if level(label) > role.level and not label.endswith(ignore):
            hit = sorted(v for v in values if v in text)[:3]
            if hit:
                found[label] = hit
    return found


# --- the views -------------------------------------------------------------------------------------

@dataclass
class Case:
    """What the views act on: a person with orders, events and several accounts, and a scratch dir."""
    person: str
    tmp: Path
    purpose: str = "personalization"

    def file(self, name: str) -> Path:
        return self.tmp / name


def prepare_case(wh, tmp: Path) -> Case:
    """The busiest person, with a consent record and points of their own (so `consent show` and
    `points history` have rows)."""
    import datetime as dt

    from flywheel.loyalty import Ledger, journal_path
    from flywheel.privacy.consent import record_consent

    person = busiest_person(wh)
    record_consent(wh, _subject(wh, person), ["marketing_sms"], "granted", actor="tester", evidence="test")
    with Ledger(journal_path(wh.settings)) as book:  # a points story, so `points balance|history` show rows
        at = dt.datetime(2026, 1, 5, tzinfo=dt.timezone.utc)
        book.earn(person, key="case-earn", points=120, order="case:o1", paid_cents=120000, at=at,
                  expires_at=at + dt.timedelta(days=365), reason="apology for a late parcel (王女士)")
        book.redeem(person, key="case-redeem", points=20, at=at + dt.timedelta(days=1))
    return Case(person, tmp)


@dataclass(frozen=True)
class View:
    name: str
    action: str | None
    """The privileged action it needs (None: every role may run it)."""
    call: Callable[..., object]
    """(gate, case) → the capability's result."""
    cli: Callable[[Case], list[str]]
    cells: Callable[..., list[Cell]]
    """(shown, wh, case) → cells; `shown` is the JSON-normalised result (or CLI output)."""
    parse: Callable[[str], object] = json.loads
    written: str | None = None
    """The file the command writes, when its output is a file."""
    masked: bool = True
    """Whether the output is disclosed for the role (the subject's own copy is not, by design)."""
    shows: tuple[str, ...] = ()
    """Label endings the output shows to whoever may run it, by design (see `leaks`)."""


def _subject(wh, person):
    from flywheel.privacy.subjects import find_subject

    return find_subject(wh, person)


def _person_show_cells(shown, wh, case) -> list[Cell]:
    from flywheel.privacy.dossier import dossier

    subject = _subject(wh, case.person)
    stored = norm(dossier(wh, subject))
    assert set(shown["data"]) == set(stored), sorted(set(shown["data"]) ^ set(stored))
    cells = [Cell("persons.person_id", level("persons.person_id"), shown["person_id"], subject.person_id)]
    for table, rows in stored.items():
        cells += row_cells(table, shown["data"][table], rows)
    return cells


EXPLAIN_COLUMNS = {
    "accounts": ("accounts", {"linked_by": "person_accounts.linked_by", "linked_at": "person_accounts.linked_at"}),
    "identifiers": ("identifiers", {"account": "accounts.display_key", "ref": 2}),
    "links": ("identity_links", {"ref": 2}),
    "refusals": ("identity_refusals", {"ref": 2}),
    "events": ("identity_events", {}),
    "overrides": ("identity_overrides", {}),
}
"""Each list of the explain story: its table, and the columns that come from elsewhere (`ref` is six
hex digits of a keyed hash, a handle, graded L2)."""


def _explain_cells(shown, wh, case) -> list[Cell]:
    from flywheel.identity.explain import person_story

    stored = norm(person_story(wh, case.person))
    top = {"person_id": "persons.person_id", "asked_for": "persons.person_id", "status": 2,
           "created_at": "persons.created_at"}
    assert set(shown) == set(stored) | {"disclosure"}, sorted(set(shown) ^ set(stored))
    cells = [Cell(f"explain.{k}", level(src), shown[k], stored[k]) for k, src in top.items()]
    for key, (table, columns) in EXPLAIN_COLUMNS.items():
        cells += row_cells(table, shown[key], stored[key], columns, where=f"explain {key}")
    return cells


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


def _export_view(of: str) -> View:
    from flywheel.identity import export_mapping

    def cells(shown, wh, case):
        stored = stored_mapping(wh, of)
        assert (shown["rows"] if isinstance(shown, dict) else shown) == len(stored)
        written = csv_rows(case.file(f"{of}.csv"))
        return row_cells(of, written, stored, EXPORT_COLUMNS[of], where=f"export {of}")

    return View(f"identity export --of {of}", "read.persons",
                lambda gate, case: export_mapping(gate, of, case.file(f"{of}.csv")),
                lambda case: ["identity", "export", "--of", of, "--out", str(case.file(f"{of}.csv"))],
                cells, written=f"{of}.csv")


def _stats_cells(shown, wh, case) -> list[Cell]:
    from flywheel.identity import identity_measures

    stored = norm(identity_measures(wh))
    assert set(shown) == set(stored), sorted(set(shown) ^ set(stored))
    cells = [Cell(f"stats.{k}", 1, shown[k], v) for k, v in stored.items()
             if k not in ("largest_cluster", "demoted_identifiers")]
    cells += row_cells("person_accounts", [shown["largest_cluster"]], [stored["largest_cluster"]],
                       {"person_id": "persons.person_id", "accounts": 1}, where="stats largest")
    cells += row_cells("identity_refusals", shown["demoted_identifiers"], stored["demoted_identifiers"])
    return cells


def _alerts_cells(shown, wh, case) -> list[Cell]:
    import ibis

    runs = wh.table("value_runs")
    latest = runs.order_by([ibis.desc("started_at"), ibis.desc("run_id")]).limit(1)
    run_id = wh.fetch(latest).column("run_id")[0].as_py()
    alerts = wh.table("value_alerts")
    alerts = alerts.filter(alerts.run_id == run_id)
    ordered = alerts.order_by([ibis.desc("drop_share"), "person_id"]).drop("run_id")
    stored = norm(wh.fetch(ordered.limit(50)).to_pylist())
    assert stored, "the world's later scoring run raised alerts"
    assert shown["run_id"] == run_id and shown["alerts"] == int(alerts.count().execute())
    return row_cells("value_alerts", shown["items"], stored)


def _consent_show_cells(shown, wh, case) -> list[Cell]:
    from flywheel.privacy.consent import consent_story

    stored = norm(consent_story(wh, _subject(wh, case.person)))
    assert set(shown) == set(stored) | {"disclosure"}
    assert stored["history"], "the case person has consent records"
    cells = [Cell("persons.person_id", level("persons.person_id"), shown["person_id"], stored["person_id"])]
    cells += [Cell("consents.status", level("consents.status"), shown["effective"].get(p), s)
              for p, s in stored["effective"].items()]
    cells += [Cell("purpose defaults", 1, shown["defaults"].get(p), s) for p, s in stored["defaults"].items()]
    return cells + row_cells("consents", shown["history"], stored["history"])


def _points_cells(shown, wh, case) -> list[Cell]:
    from flywheel.loyalty import Ledger, journal_path
    from flywheel.loyalty.points import LEVELS

    with Ledger(journal_path(wh.settings)) as book:
        stored = norm(book.balance(case.person))
        history = norm(book.history(case.person))
    if "transactions" in shown:
        assert len(shown["transactions"]) == len(history) == 2
        return [Cell(f"points.{k}", LEVELS[k], got.get(k), want[k])
                for got, want in zip(shown["transactions"], history) for k in want if k in LEVELS]
    cells = [Cell(f"points.{k}", LEVELS[k], shown[k], stored[k]) for k in ("person_id", "available", "pending", "debt")]
    assert len(shown["lots"]) == len(stored["lots"]) == 1
    return cells + [Cell(f"points.lots.{k}", LEVELS[k], shown["lots"][0][k], v) for k, v in stored["lots"][0].items()]


def _audience_cells(shown, wh, case) -> list[Cell]:
    from flywheel.privacy.consent import allowed

    stored = wh.fetch(allowed(wh, case.purpose).order_by("person_id")).to_pylist()
    assert stored and shown["persons"] == len(stored)
    return row_cells("persons", csv_rows(case.file("audience.csv")), stored, where="consent audience")


def _audit_cells(shown, wh, case) -> list[Cell]:
    from collections import deque

    from flywheel.privacy.audit import audit_dir, read_entries

    stored = list(deque(read_entries(audit_dir(wh.settings)), maxlen=50))
    assert len(shown) == len(stored)
    return [Cell("audit entry", ALWAYS, s, r) for s, r in zip(shown, stored)]


def _journal_of(gate):
    """What `privacy export` adds beside the warehouse (cli/privacy.py): the points journal's sections."""
    from flywheel.loyalty import journal_copy, journal_path

    return lambda subject: journal_copy(journal_path(gate.settings), list(subject.person_ids))


def _access_copy_cells(shown, wh, case) -> list[Cell]:
    """The subject's own copy is unmasked by design, for whoever may make it."""
    from flywheel.loyalty import journal_copy, journal_path
    from flywheel.privacy.dossier import dossier

    copy = json.loads(case.file("subject.json").read_text(encoding="utf-8"))
    subject = _subject(wh, case.person)
    stored = norm(dossier(wh, subject) | journal_copy(journal_path(wh.settings), list(subject.person_ids)))
    assert shown["rows"] == sum(len(v) for v in stored.values())
    return [Cell(f"access copy {t}", ALWAYS, copy["data"].get(t), rows) for t, rows in stored.items()]


def _json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def views() -> list[View]:
    """Every command that shows or writes person-level data (or is open to every role)."""
    from flywheel.identity import explain, identity_stats
    from flywheel.loyalty import balance as points_balance
    from flywheel.privacy import (
        audit_entries,
        consent_audience,
        consent_show,
        export_person,
        person_show,
    )
    from flywheel.value import risk_alerts

    return [
        View("person show", "read.persons", lambda gate, case: person_show(gate, case.person),
             lambda case: ["person", "show", case.person], _person_show_cells),
        View("identity explain", "read.persons", lambda gate, case: explain(gate, case.person),
             lambda case: ["identity", "explain", case.person], _explain_cells),
        _export_view("accounts"),
        _export_view("orders"),
        View("identity stats", None, lambda gate, case: identity_stats(gate),
             lambda case: ["identity", "stats"], _stats_cells),
        View("value alerts", "read.persons", lambda gate, case: risk_alerts(gate),
             lambda case: ["value", "alerts"], _alerts_cells),
        View("consent show", "read.persons", lambda gate, case: consent_show(gate, case.person),
             lambda case: ["consent", "show", case.person], _consent_show_cells),
        View("consent audience", "read.persons",
             lambda gate, case: consent_audience(gate, case.purpose, case.file("audience.csv")),
             lambda case: ["consent", "audience", "--purpose", case.purpose, "--out", str(case.file("audience.csv"))],
             _audience_cells, written="audience.csv"),
        View("points balance", "read.persons", lambda gate, case: points_balance(gate, case.person),
             lambda case: ["points", "balance", case.person], _points_cells),
        View("points history", "read.persons", lambda gate, case: points_balance(gate, case.person, history=True),
             lambda case: ["points", "history", case.person], _points_cells),
        View("audit show", "audit.read", lambda gate, case: audit_entries(gate, limit=50),
             lambda case: ["audit", "show"], _audit_cells, parse=_json_lines, shows=(".actor",)),
        View("privacy export", "privacy.export",
             lambda gate, case: export_person(gate, case.person, case.file("subject.json"), beside=_journal_of(gate)),
             lambda case: ["privacy", "export", case.person, "--out", str(case.file("subject.json"))],
             _access_copy_cells, written="subject.json", masked=False),
    ]


def busiest_person(wh) -> str:
    """A person with orders, behaviour events and the most accounts: the richest output to check."""
    pa_ = wh.table("person_accounts")
    events = wh.table("events").filter(lambda t: t.user_id.notnull()).select(account_key="user_id").distinct()
    orders = wh.table("orders").select("source", "account_key").distinct()
    with_orders = pa_.semi_join(orders, ["source", "account_key"]).select("person_id")
    with_events = pa_.semi_join(events, "account_key").select("person_id")
    sizes = pa_.group_by("person_id").agg(n=pa_.count())
    pick = (sizes.semi_join(with_orders, "person_id").semi_join(with_events, "person_id")
            .order_by([sizes.n.desc(), "person_id"]).limit(1))
    return wh.fetch(pick).column("person_id")[0].as_py()
