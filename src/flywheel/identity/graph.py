"""The deterministic identity graph: link accounts that share an identifier, one type at a time.

Accounts start in their current person (or alone). Identifier types are taken strongest first; for
each type, every value held by accounts of two or more persons is a candidate link. A candidate is
refused when it touches more separate persons than the type's `high_degree` (a shared office phone,
a kiosk cookie), when the joined person would hold more distinct values of some type than its
`limit` allows (two user ids, three phones), or when it would join a never-link pair. Accepted
values join persons through connected components; if the joined group still breaks a limit through
a chain of values, that group's links of this type are refused too. Every decision is a row, so
`identity explain` can show it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import ibis

from flywheel.identity.components import connected_components
from flywheel.identity.rules import IdentityRules
from flywheel.warehouse import Warehouse

log = logging.getLogger(__name__)

KEY = ["id_type", "id_hash"]


@dataclass
class Step:
    """One pass of linking: a kind of evidence and the bounds it must respect."""

    rule: str
    kind: str
    evidence: ibis.Table
    high_degree: int | None


@dataclass
class StepOutcome:
    links: ibis.Table
    refusals: ibis.Table


def link_step(wh: Warehouse, rules: IdentityRules, step: Step, persons: ibis.Table, held: ibis.Table,
              never_link: ibis.Table | None) -> tuple[ibis.Table, StepOutcome]:
    """One type's linking. `persons(node, comp, via)`, `held(node, id_type, id_hash)` for limited types,
    `evidence(node, id_type, id_hash)`; returns the new `persons` and what was linked and refused."""
    name = f"step_{step.rule}"
    touched = step.evidence.join(persons, "node").select(*KEY, "comp").distinct()
    degree = touched.group_by(KEY).agg(persons=touched.comp.nunique())
    shared = wh.materialize(f"{name}_shared", degree.filter(degree.persons >= 2))
    if int(shared.count().execute()) == 0:
        nothing = StepOutcome(shared.mutate(rule=ibis.literal(step.rule)),
                              _refusal(shared, "none", ibis.literal("")))
        return persons, nothing
    high = shared.filter(shared.persons > step.high_degree) if step.high_degree else shared.limit(0)
    candidates = shared.anti_join(high, KEY) if step.high_degree else shared
    cand_comps = wh.materialize(f"{name}_cand", touched.semi_join(candidates, KEY))

    over_limit = _limit_breaches(wh, rules, cand_comps, held, persons, name)
    refusals = [
        _refusal(high, "high_degree", ibis.literal("shared by ") + high.persons.cast("string")
                 + ibis.literal(f" separate persons (more than {step.high_degree})")),
        _refusal(over_limit, "limit", over_limit.detail),
    ]
    accepted = candidates.anti_join(over_limit, KEY)
    if never_link is not None:
        blocked_pairs = _never_link_breaches(cand_comps, never_link, persons)
        refusals.append(_refusal(candidates.semi_join(blocked_pairs, KEY), "never_link",
                                 ibis.literal("would join accounts a person marked as never to be linked")))
        accepted = accepted.anti_join(blocked_pairs, KEY)
    accepted = wh.materialize(f"{name}_accepted", accepted)
    if int(accepted.count().execute()) == 0:
        return persons, StepOutcome(accepted.mutate(rule=ibis.literal(step.rule)),
                                    wh.materialize(f"{name}_refusals", ibis.union(*refusals)))
    star = cand_comps.semi_join(accepted, KEY)
    root = star.group_by(KEY).agg(root=star.comp.min())
    edges = star.join(root, KEY).select(a="comp", b="root")
    grouped = connected_components(wh, edges, name)

    merged = persons.left_join(grouped, persons.comp == grouped.node).select(
        node=persons.node, old=persons.comp, comp=ibis.coalesce(grouped.label, persons.comp), via=persons.via)
    merged = wh.materialize(f"{name}_merged", merged)
    chained = _chain_breaches(wh, rules, merged, held, name)
    if chained is not None:
        reverted_links = star.join(grouped, star.comp == grouped.node).semi_join(
            chained, grouped.label == chained.comp).select(*KEY).distinct()
        refusals.append(_refusal(accepted.semi_join(reverted_links, KEY), "transitive_limit",
                                 ibis.literal("a chain of links of this type would give one person more values than a limit allows")))
        accepted = accepted.anti_join(reverted_links, KEY)
        merged = merged.mutate(comp=ibis.cases(
            (merged.comp.isin(chained.comp), merged.old), else_=merged.comp))
    grew = merged.filter(merged.comp != merged.old).select(grown="comp").distinct()
    marked = merged.left_join(grew, merged.comp == grew.grown)
    joined_now = (marked.comp != marked.old) | (marked.grown.notnull() & (marked.via == "singleton"))
    new_persons = wh.materialize(f"{name}_persons", marked.select(
        "node", "comp", via=ibis.cases((joined_now, ibis.literal(step.kind)), else_=marked.via)))
    links = accepted.mutate(rule=ibis.literal(step.rule))
    outcome = StepOutcome(wh.materialize(f"{name}_links", links),
                          wh.materialize(f"{name}_refusals", ibis.union(*refusals)))
    return new_persons, outcome


def _refusal(values: ibis.Table, reason: str, detail: ibis.Value) -> ibis.Table:
    return values.select(*KEY, reason=ibis.literal(reason), detail=detail.cast("string"),
                         persons=values.persons.cast("int64"))


def _limits_table(rules: IdentityRules) -> ibis.Table:
    limits = rules.limits
    return ibis.memtable({"held_type": list(limits), "max_values": list(limits.values())},
                         schema={"held_type": "string", "max_values": "int64"})


def _limit_breaches(wh: Warehouse, rules: IdentityRules, cand_comps: ibis.Table, held: ibis.Table,
                    persons: ibis.Table, name: str) -> ibis.Table:
    """Candidate values whose persons, joined, would hold more values of a limited type than allowed
    (and more than any of them holds alone: an account that already carries three phones is not
    a reason to refuse every later link)."""
    involved = persons.semi_join(cand_comps.select("comp").distinct(), "comp")
    per_comp = held.join(involved, "node").select("comp", held_type="id_type", held_hash="id_hash").distinct()
    per_comp = wh.materialize(f"{name}_held", per_comp)
    joined = cand_comps.join(per_comp, "comp")
    merged = joined.group_by([*KEY, "held_type"]).agg(merged=joined.held_hash.nunique())
    alone = per_comp.group_by(["comp", "held_type"]).agg(n=per_comp.held_hash.nunique())
    single = cand_comps.join(alone, "comp").group_by([*KEY, "held_type"]).agg(alone=ibis._.n.max())
    limits = _limits_table(rules)
    judged = merged.join(single, [*KEY, "held_type"]).join(limits, "held_type")
    breach = judged.filter((judged.merged > judged.max_values) & (judged.merged > judged.alone))
    detail = (ibis.literal("the joined person would hold ") + breach.merged.cast("string")
              + ibis.literal(" ") + breach.held_type + ibis.literal(" values (limit ")
              + breach.max_values.cast("string") + ibis.literal(")"))
    first = breach.mutate(detail=detail).group_by(KEY).agg(detail=ibis._.detail.min())
    persons_per_value = cand_comps.group_by(KEY).agg(persons=ibis._.comp.nunique())
    return wh.materialize(f"{name}_over", first.join(persons_per_value, KEY))


def _never_link_breaches(cand_comps: ibis.Table, never_link: ibis.Table, persons: ibis.Table) -> ibis.Table:
    left = persons.view()
    right = persons.view()
    pairs = never_link.join(left, never_link.a == left.node).join(right, never_link.b == right.node).select(
        ca=left.comp, cb=right.comp)
    pairs = pairs.filter(pairs.ca != pairs.cb)
    with_a = cand_comps.join(pairs, cand_comps.comp == pairs.ca).select(*KEY, "cb")
    other = cand_comps.view()
    return with_a.join(other, (with_a.id_type == other.id_type) & (with_a.id_hash == other.id_hash)
                       & (with_a.cb == other.comp)).select(with_a.id_type, with_a.id_hash).distinct()


def _chain_breaches(wh: Warehouse, rules: IdentityRules, merged: ibis.Table, held: ibis.Table,
                    name: str) -> ibis.Table | None:
    """Joined groups that break a limit although each value alone did not."""
    grown = merged.filter(merged.comp != merged.old).select("comp").distinct()
    if not rules.limits:
        return None
    in_group = merged.semi_join(grown, "comp")
    values = held.join(in_group, "node").select("comp", "old", held_type="id_type", held_hash="id_hash")
    total = values.group_by(["comp", "held_type"]).agg(merged=values.held_hash.nunique())
    alone = values.group_by(["comp", "old", "held_type"]).agg(n=values.held_hash.nunique()).group_by(
        ["comp", "held_type"]).agg(alone=ibis._.n.max())
    judged = total.join(alone, ["comp", "held_type"]).join(_limits_table(rules), "held_type")
    breach = judged.filter((judged.merged > judged.max_values) & (judged.merged > judged.alone)).select("comp").distinct()
    return wh.materialize(f"{name}_chained", breach)
