"""`resolve`: place every account into a person, deterministically then probabilistically, and keep
the evidence. Incremental by default: accounts already placed start in their person and only
identifiers that arrived since the last run are considered as new links.

Order: identifiers strongest first (`rules.yaml`), the account-level match model (`matcher`, Splink
by default), then the person-level pass on values exactly two persons hold (`identity.rare`).
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
import time
import uuid
from collections.abc import Callable

import ibis

from flywheel.identity.components import connected_components
from flywheel.identity.evidence import (NAME_PHONE, build_evidence, name_phone_evidence, node_of, phone_masks,
                                        without_secondary)
from flywheel.identity.graph import KEY, Step, link_step
from flywheel.identity.persons import place
from flywheel.identity.rare import rare_value_evidence, shared_phones
from flywheel.identity.receivers import secondary_receivers
from flywheel.identity.record import ResolveReport, record_run
from flywheel.identity.rules import IdentityRules, load_rules
from flywheel.identifiers import IdentifierHasher
from flywheel.keys import load_or_create_key
from flywheel.warehouse import Warehouse

log = logging.getLogger(__name__)

Progress = Callable[[str], None]


class _ShippedMatcher:
    """The default `matcher`: `identity.probabilistic.match_accounts`, imported only when it runs
    (it loads Splink)."""

    def __call__(self, wh, nodes, persons, rules):
        from flywheel.identity.probabilistic import match_accounts

        return match_accounts(wh, nodes, persons, rules)

    def __repr__(self) -> str:
        return "match_accounts"


MATCH_ACCOUNTS = _ShippedMatcher()


def resolve(wh: Warehouse, rules: IdentityRules | None = None, *, full: bool = False,
            matcher=MATCH_ACCOUNTS, progress: Progress | None = None) -> ResolveReport:
    """Resolve identities in the warehouse and record the run.

    Runs the identifier graph, probabilistic matching of marketplace buyers (`matcher`: the shipped
    Splink model by default; `matcher=None` for identifier links only, as `identity resolve
    --no-match` does; `probabilistic.enabled: false` in the rules turns it off too) and the
    person-level pass on rare shared values (`rare_values` in the rules).
    """
    rules = rules or load_rules()
    say = progress or (lambda _msg: None)
    started = time.perf_counter()
    now = dt.datetime.now(dt.timezone.utc)
    resolution_id = now.strftime("%Y%m%dT%H%M%S-") + uuid.uuid4().hex[:6]
    key = load_or_create_key(wh.settings.key_file)
    hasher = IdentifierHasher(key)
    salt = hmac.new(key, b"flywheel person id", "sha256").hexdigest()[:32]
    placed_before = wh.count("person_accounts") > 0
    mode = "full" if full or not placed_before else "incremental"

    accounts = wh.table("accounts")
    nodes = wh.materialize("nodes", accounts.select(
        node=node_of(accounts.source, accounts.account_key),
        source=accounts.source, account_key=accounts.account_key, first_seen_at=accounts.first_seen_at))
    secondary = secondary_receivers(wh)
    evidence = build_evidence(wh, rules, hasher, nodes, secondary)
    limited = [t for t in rules.limits if t != "phone"]
    held = evidence.filter(evidence.id_type.isin(limited)).select("node", *KEY)
    if "phone" in rules.limits:
        held = held.union(phone_masks(wh, nodes))
    held = wh.materialize("held", held)
    fresh = None if mode == "full" else _fresh_values(wh, evidence)

    persons = _starting_persons(wh, nodes, mode)
    never_link = _override_pairs(wh, "never_link")
    persons = _forced_merges(wh, persons, _override_pairs(wh, "merge"))

    links, refusals, composite, shown = [], [], [], []
    present = set(wh.fetch((fresh if fresh is not None else evidence).select("id_type").distinct())
                  .column("id_type").to_pylist()) | {NAME_PHONE}
    for i, rule in enumerate(rules.types, 1):
        if rule.id_type not in present:
            continue
        say(f"linking by {rule.id_type} ({i}/{len(rules.types)})")
        if rule.id_type == NAME_PHONE:
            of_type = name_phone_evidence(wh, persons, salt, secondary)
            composite.append(of_type)
        else:
            of_type = evidence.filter(evidence.id_type == rule.id_type)
            if fresh is not None:
                of_type = of_type.semi_join(fresh, KEY)
        if rule.id_type == "phone":
            own = without_secondary(held.filter(held.id_type == "phone"), secondary,
                                    "masked", "id_hash")
            shared = wh.materialize("shared_phones", shared_phones(wh, own, secondary, rules.rare.max_chance_holders))
            shared = shared.semi_join(of_type, KEY)
            refusals.append(shared.select(*KEY, reason=ibis.literal("high_degree"), detail=(
                ibis.literal("its masked form is the own phone of buyers of ") + shared.persons.cast("string")
                + ibis.literal(" different names: a shared phone")).cast("string"), persons=shared.persons.cast("int64")))
            of_type = of_type.anti_join(shared, KEY)
        step = Step(rule.id_type, "deterministic", of_type, rule.high_degree)
        persons, outcome = link_step(wh, rules, step, persons, held, never_link)
        links.append(outcome.links)
        refusals.append(outcome.refusals)

    n_matches, match_details, notes = 0, None, []
    if matcher is not None and rules.probabilistic:
        say("probabilistic matching")
        matched = matcher(wh, nodes, persons, rules)
        if matched is not None:
            notes += list(getattr(matched, "notes", ()))
            if matched.evidence is not None:
                composite.append(matched.evidence)
                step = Step("match", "probabilistic", matched.evidence, None)
                persons, outcome = link_step(wh, rules, step, persons, held, never_link)
                links.append(outcome.links)
                refusals.append(outcome.refusals)
                match_details = matched.details
                n_matches = int(outcome.links.count().execute())

    if rules.rare.names or rules.rare.masked_phones:
        say("person-level pass: values only two persons hold")
        rare = rare_value_evidence(wh, persons, rules, salt, secondary)
        notes += rare.notes
        if rare.evidence is not None:
            composite.append(rare.evidence.select("node", "id_type", "id_hash"))
            shown.append(rare.evidence.select("id_type", "id_hash", "id_masked").distinct())
            step = Step("rare", "deterministic", rare.evidence.select("node", "id_type", "id_hash"), None)
            persons, outcome = link_step(wh, rules, step, persons, held, never_link)
            links.append(outcome.links)
            refusals.append(outcome.refusals)

    say("placing persons")
    placement = place(wh, nodes, persons, salt, now, resolution_id)
    all_links = wh.materialize("links", ibis.union(*links))
    all_refusals = wh.materialize("refusals", ibis.union(*refusals))
    say("recording")
    report = record_run(wh, resolution_id=resolution_id, mode=mode, now=now, started=started,
                        evidence=ibis.union(*[_plain(e) for e in [evidence, *composite]]),
                        shown=[t.select(*[t[c].cast("string").name(c) for c in ("id_type", "id_hash", "id_masked")]) for t in shown],
                        placement=placement, links=all_links, refusals=all_refusals,
                        n_matches=n_matches, match_details=match_details, notes=notes)
    wh.drop_work()
    return report


def _plain(evidence: ibis.Table) -> ibis.Table:
    """`(node, id_type, id_hash)` as nullable strings, so evidence of every step unions."""
    return evidence.select(*[evidence[c].cast("string").name(c) for c in ("node", *KEY)])


def _fresh_values(wh: Warehouse, evidence: ibis.Table) -> ibis.Table:
    """Identifier values written by ingest runs that finished after the last resolution started."""
    runs = wh.table("identity_runs")
    last = runs.started_at.max().execute()
    ingests = wh.table("ingest_runs")
    recent = ingests.filter(ingests.finished_at >= ibis.literal(last)) if last is not None else ingests
    fresh = evidence.semi_join(recent.select("run_id"), "run_id").select(*KEY).distinct()
    return wh.materialize("fresh", fresh)


def _starting_persons(wh: Warehouse, nodes: ibis.Table, mode: str) -> ibis.Table:
    if mode == "full":
        return wh.materialize("start", nodes.select("node", comp=nodes.node, via=ibis.literal("singleton")))
    placed = wh.table("person_accounts")
    joined = nodes.left_join(placed, ["source", "account_key"])
    return wh.materialize("start", joined.select(
        node=joined.node, comp=ibis.coalesce(joined.person_id, joined.node),
        via=joined.linked_by.fill_null("singleton")))


def _override_pairs(wh: Warehouse, kind: str) -> ibis.Table | None:
    """Account pairs of one override kind whose latest decision (either direction) is that kind."""
    o = wh.table("identity_overrides")
    a, b = node_of(o.left_source, o.left_account_key), node_of(o.right_source, o.right_account_key)
    pairs = o.select(kind="kind", created_at="created_at", a=a, b=b)
    both = pairs.union(pairs.select("kind", "created_at", a="b", b="a"))
    w = ibis.window(group_by=["a", "b"], order_by=ibis.desc("created_at"))
    latest = both.mutate(rank=ibis.row_number().over(w))
    latest = latest.filter((latest.rank == 0) & (latest.kind == kind) & (latest.a < latest.b))
    chosen = wh.materialize(f"override_{kind}", latest.select("a", "b"))
    return chosen if int(chosen.count().execute()) else None


def _forced_merges(wh: Warehouse, persons: ibis.Table, pairs: ibis.Table | None) -> ibis.Table:
    """Manual merges come first and are not subject to the rules: a person decided it."""
    if pairs is None:
        return persons
    left, right = persons.view(), persons.view()
    edges = pairs.join(left, pairs.a == left.node).join(right, pairs.b == right.node).select(
        a=left.comp, b=right.comp)
    grouped = connected_components(wh, edges.filter(edges.a != edges.b), "override")
    joined = persons.left_join(grouped, persons.comp == grouped.node)
    return wh.materialize("start_forced", joined.select(
        node=joined.node, comp=ibis.coalesce(joined.label, joined.comp),
        via=ibis.cases((joined.label.notnull() & (joined.label != joined.comp), ibis.literal("override")),
                       else_=joined.via)))
