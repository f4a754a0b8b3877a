"""Segments: the rule language's errors, membership by the clock alone, and incremental = full rebuild."""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path

import pytest

from flywheel.activate import (
    RuleError,
    load_segment_files,
    parse_rule,
    refresh_segments,
)
from flywheel.activate.compile import RuleContext, compile_rule
from flywheel.activate.segments import apply_segments, stored_segments, verify
from flywheel.collect import ingest_paths
from flywheel.warehouse import account_persons

T0 = dt.datetime(2025, 3, 1, 12, tzinfo=dt.timezone.utc)
SHOPIFY_HEADER = ("Name,Email,Financial Status,Paid at,Fulfillment Status,Accepts Marketing,Currency,Subtotal,"
                  "Shipping,Taxes,Total,Discount Code,Discount Amount,Created at,Lineitem quantity,Lineitem name,"
                  "Lineitem price,Lineitem sku,Billing Name,Shipping Name,Shipping Address1,Shipping City,"
                  "Shipping Zip,Shipping Province,Shipping Country,Shipping Phone,Cancelled at,Refunded Amount,"
                  "Source,Phone,Id")
SEGMENTS = """
segments:
  - name: quiet_community
    description: has not opened the community for 7 days
    rule: {not_performed: {event: Community Opened, within_days: 7}}
  - name: browsing
    rule: {performed: {event: Product Viewed, within_days: 3, count: {gte: 2}}}
  - name: spenders
    rule: {ordered: {within_days: 30, amount: {gte: 100}}}
  - name: quiet_spenders
    rule:
      all:
        - segment: quiet_community
        - any: [{segment: spenders}, {performed: {event: Product Viewed, within_days: 10, where: {plan: gold}}}]
        - not: {random: {percent: 20, salt: holdout}}
  - name: emailable
    rule: {consent: marketing_email}
"""


def _iso(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _events(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _track(user: str, event: str, at: dt.datetime, n: int, **props) -> dict:
    return {"type": "track", "event": event, "userId": user, "messageId": f"m-{user}-{event}-{n}",
            "properties": props, "timestamp": _iso(at)}


def _orders(path: Path, rows: list[tuple[str, str, dt.datetime, int]]) -> Path:
    lines = [SHOPIFY_HEADER]
    for number, email, at, cents in rows:
        stamp = at.astimezone(dt.timezone(dt.timedelta(hours=8))).strftime("%Y-%m-%d %H:%M:%S +0800")
        amount = f"{cents / 100:.2f}"
        lines.append(f"#{number},{email},paid,{stamp},fulfilled,{'yes' if number % 2 else 'no'},CNY,{amount},0.00,"
                     f"0.00,{amount},,0.00,{stamp},1,Tea,{amount},TEA-1,A B,A B,1 Road,Hangzhou,310000,ZJ,CN,,,0.00,"
                     f"web,,{number}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _members(wh, name: str) -> set[str]:
    m = wh.table("segment_members")
    return set(wh.fetch(m.filter(m.segment == name).select("person_id")).column(0).to_pylist())


def _rebuilt(wh, now: dt.datetime) -> dict[str, set[str]]:
    """Every segment evaluated from scratch over all persons (what a full rebuild selects)."""
    universe = account_persons(wh).select("person_id").distinct()
    segments = stored_segments(wh)
    found: dict[str, set[str]] = {}
    members = {}
    for name in ("quiet_community", "browsing", "spenders", "emailable", "quiet_spenders"):
        ctx = RuleContext(wh, now, universe, members)
        expr = compile_rule(segments[name].rule, ctx)
        found[name] = set(wh.fetch(expr).column("person_id").to_pylist())
        import ibis

        members[name] = ibis.memtable({"person_id": sorted(found[name])}, schema={"person_id": "string"})
    return found


def _gate(wh, role: str = "marketer"):
    from flywheel.config import load_settings
    from flywheel.privacy import Gate

    return Gate.open(load_settings().with_overrides(role=role), wh, "test")


def _apply(wh, tmp_path: Path) -> None:
    (tmp_path / "segments.yaml").write_text(SEGMENTS, encoding="utf-8")
    with _gate(wh) as gate:
        apply_segments(gate, load_segment_files([tmp_path / "segments.yaml"]))


def test_a_person_enters_an_inactivity_segment_by_the_clock_alone(warehouse, tmp_path):
    ingest_paths(warehouse, [_events(tmp_path / "e.jsonl", [
        _track("u1", "Community Opened", T0, 1), _track("u2", "Community Opened", T0 + dt.timedelta(days=3), 1),
        _track("u3", "Product Viewed", T0, 1)])])
    _apply(warehouse, tmp_path)
    seen = {}
    for days in (1, 6, 8, 11):
        refresh_segments(warehouse, T0 + dt.timedelta(days=days))
        seen[days] = _members(warehouse, "quiet_community")
    assert seen[1] == set() and seen[6] == set()
    user = {r["person_id"]: r["account_key"] for r in warehouse.fetch(account_persons(warehouse)).to_pylist()}
    assert sorted(user[p] for p in seen[11]) == ["u1", "u2", "u3"]
    assert sorted(user[p] for p in seen[8]) == ["u1", "u3"]  # u3 never opened: inactive since first seen
    refreshes = warehouse.fetch(warehouse.table("segment_refreshes").filter(
        lambda r: r.segment == "quiet_community").order_by("now")).to_pylist()
    assert [r["mode"] for r in refreshes] == ["full", "incremental", "incremental", "incremental"]
    verify(warehouse)


@pytest.mark.slow
def test_incremental_refresh_equals_a_full_rebuild_after_random_ingests_and_clock_moves(warehouse, tmp_path):
    from flywheel.identity import resolve

    rng = random.Random(20261201)
    users = [f"u{i}" for i in range(24)]
    clock, n = T0, 0
    ingest_paths(warehouse, [_events(tmp_path / "seed.jsonl", [_track(u, "Product Viewed", T0, 0) for u in users]
                                     + [_track("u0", "Community Opened", T0, 0)])])
    _apply(warehouse, tmp_path)
    refresh_segments(warehouse, clock)
    steps = ["events"] * 3 + ["orders"] * 2 + ["clock"] * 3 + ["identity"] * 2
    rng.shuffle(steps)
    for step, action in enumerate(steps):
        if action == "events":
            rows = []
            for _ in range(rng.randint(3, 12)):
                n += 1
                at = clock - dt.timedelta(hours=rng.uniform(-24, 24 * 12))
                event = rng.choice(["Product Viewed", "Community Opened"])
                rows.append(_track(rng.choice(users), event, at, n, plan=rng.choice(["gold", "free"])))
            ingest_paths(warehouse, [_events(tmp_path / f"e{step}.jsonl", rows)])
        elif action == "orders":
            rows = []
            for _ in range(rng.randint(1, 5)):
                n += 1
                at = clock - dt.timedelta(days=rng.uniform(-2, 40))
                rows.append((1000 + n, f"{rng.choice(users)}@example.com", at, rng.choice([5000, 12000, 30000])))
            ingest_paths(warehouse, [_orders(tmp_path / f"o{step}.csv", rows)])
        elif action == "clock":
            clock += dt.timedelta(days=rng.choice([0.4, 1, 2.5, 6, 9]))
        else:
            resolve(warehouse)
        refresh_segments(warehouse, clock)
        expected = _rebuilt(warehouse, clock)
        for name, want in expected.items():
            assert _members(warehouse, name) == want, (step, action, name)
        verify(warehouse)
    modes = warehouse.fetch(warehouse.table("segment_refreshes").select("mode")).column(0).to_pylist()
    assert modes.count("incremental") > len(modes) // 2, steps


def test_rule_errors_name_the_file_the_path_and_the_reason(warehouse, tmp_path):
    cases = {
        "{trait: tierr, eq: gold}": "rule.trait: unknown trait 'tierr' (did you mean 'tier'?)",
        "{trait: tier, equals: gold}": "rule.equals: unknown operator 'equals'",
        "{trait: orders, gt: many}": "rule.gt: trait 'orders' is a whole number; 'many' is not",
        "{all: [{trait: tier, eq: gold}, {performed: {event: Nope Happened}}]}":
            "rule.all[1].performed.event: no event 'Nope Happened' has ever been seen",
        "{any: [{consent: spam}]}": "rule.any[0].consent: unknown purpose 'spam'",
        "{segment: nothere}": "rule.segment: no segment 'nothere'",
        "{performed: {event: X, within_days: -1}}": "rule.performed.within_days: a positive number of days",
        "{ordered: {within_day: 3}}": "rule.ordered.within_day: unknown option 'within_day' (did you mean 'within_days'?)",
        "{trait: tier}": "rule: trait 'tier' needs exactly one operator",
        "{random: {percent: 120}}": "rule.random.percent: a number from 0 to 100",
    }
    for rule, message in cases.items():
        path = tmp_path / "s.yaml"
        path.write_text(f"name: s\nrule: {rule}\n", encoding="utf-8")
        with pytest.raises(RuleError) as info, _gate(warehouse) as gate:
            apply_segments(gate, load_segment_files([path]))
        assert str(info.value).startswith(f"{path}: ") and message in str(info.value), (rule, str(info.value))
    assert stored_segments(warehouse) == {}


def test_parse_accepts_every_documented_form():
    for rule in ({"trait": "clv", "between": [100, 500]}, {"trait": "tier", "is_null": True},
                 {"not_performed": {"event": "A", "within_days": 7}},
                 {"ordered": {"within_days": 90, "count": {"gte": 2}, "amount": {"gte": 100}, "source": "jd",
                              "category": "tea"}},
                 {"random": {"percent": 10, "salt": "x"}}, {"not": {"segment": "x"}}):
        parse_rule(rule)


def test_segment_commands_by_role(tmp_path):
    from typer.testing import CliRunner

    from flywheel.cli import app
    from flywheel.privacy import NotPermitted

    runner = CliRunner()
    events = _events(tmp_path / "e.jsonl", [_track(f"u{i}", "Community Opened", T0, 1) for i in range(3)]
                     + [_track("u0", "Product Viewed", T0, 1)])
    assert runner.invoke(app, ["ingest", str(events)]).exit_code == 0
    (tmp_path / "s.yaml").write_text(SEGMENTS, encoding="utf-8")
    refused = runner.invoke(app, ["--role", "analyst", "segment", "apply", str(tmp_path / "s.yaml")])
    assert isinstance(refused.exception, NotPermitted) and "activate.apply" in str(refused.exception)
    applied = runner.invoke(app, ["--role", "marketer", "--json", "segment", "apply", str(tmp_path / "s.yaml"),
                                  "--shipped"])
    assert applied.exit_code == 0, applied.output
    statuses = {s["name"]: s["status"] for s in json.loads(applied.stdout)["segments"]}
    assert statuses["quiet_community"] == "created" and statuses["lapsed_vips"] == "created"
    refreshed = runner.invoke(app, ["--role", "service", "segment", "refresh", "--now", "2025-03-20T12:00:00+00:00",
                                    "--json"])
    assert refreshed.exit_code == 0, refreshed.output
    payload = json.loads(refreshed.stdout)
    assert payload["now"].startswith("2025-03-20T12:00:00")
    quiet = next(s for s in payload["segments"] if s["name"] == "quiet_community")
    assert {"name", "members", "entered", "exited"} <= set(quiet) and quiet["members"] == 3
    shown = json.loads(runner.invoke(app, ["--role", "auditor", "--json", "segment", "list"]).stdout)
    assert any(s["name"] == "tier_gold" for s in shown["segments"])
    out = tmp_path / "m.csv"
    result = runner.invoke(app, ["--role", "marketer", "segment", "members", "quiet_community", "--out", str(out),
                                 "--trait", "events", "--trait", "clv"])
    assert result.exit_code == 0, result.output
    lines = out.read_text().splitlines()
    assert lines[0] == '"person_id","events","clv"' and len(lines) == 4
    assert all(line.split(",")[0].strip('"') for line in lines[1:]), "person ids in clear for L2"
    nobody = runner.invoke(app, ["--role", "marketer", "segment", "members", "quiet_community", "--out", str(out),
                                 "--purpose", "marketing_sms"])
    assert nobody.exit_code == 0 and len(out.read_text().splitlines()) == 1, "no SMS consent recorded"
