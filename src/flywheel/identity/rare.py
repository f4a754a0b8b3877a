"""Person-level links on rare shared values: what two persons hold and nobody else does.

After the identifier steps, many humans are still split into a marketplace buyer (receiver name,
masked phone `138****1234`, city) and another person with no identifier in common: a WeCom contact
known only by name, a web visitor known only by the phone they typed. A masked phone or a full name
alone identifies nobody in general, but a value that exactly two persons of the merchant hold, and
that nothing else about the two contradicts, is strong evidence — how strong depends on how often
such a value turns up by chance, which the data says:

- `rare_phone`: a masked phone held by exactly two persons, when persons with masked phones of that
  prefix are few enough that a chance collision on the 4 shown digits is unlikely
  (persons with the prefix / 10,000 ≤ `max_chance_holders`; a large merchant has no such prefix
  and the rule goes quiet by itself). Refused when both persons go by identifying names and share
  none, hold full phones and share none, live in different cities, or both hold an account on the
  same platform (two buyer accounts on one marketplace are two buyers far more often than one).
  Two persons that share a full phone, or a name and a masked phone, are apart because an
  identifier step refused that link (a limit, a never-link pair); they are not tried again.
- `rare_name`: a full name (at least `min_name_length` characters in comparison form, so
  two-character names like 王伟 never count) held by exactly two persons. Refused when both hold
  masked phones and share none, live in different cities, or share a platform.

A name held by more than `common_name_holders` persons is a nickname or too common to tell anyone
apart, and a phone shown by more than three persons is an office's: neither links nor contradicts. Accepted values go through the graph's limits and
never-link pairs like any identifier. Names are sealed at rest; only the candidates' names are
opened, in memory, to measure their length.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import ibis
import pyarrow as pa

from flywheel.identity.evidence import PHONE_TYPES, SEP, node_of
from flywheel.identifiers import mask_value
from flywheel.identity.rules import IdentityRules
from flywheel.warehouse import Warehouse
from flywheel.warehouse.sealing import comparison_form

log = logging.getLogger(__name__)

RARE_NAME = "rare_name"
RARE_PHONE = "rare_phone"
KINDS = ("name", "masked", "phone", "city", "source")
#: Digits a masked phone hides: the chance another person shows the same prefix and suffix.
HIDDEN_SPACE = 10_000
#: A phone shown by more persons than this is shared (an office, a reception desk): it neither
#: links nor says that two persons differ.
SHARED_PHONE_HOLDERS = 3


@dataclass
class RareEvidence:
    evidence: ibis.Table | None   # node, id_type, id_hash, id_masked (the masked phone) — two rows per value
    notes: list[str] = field(default_factory=list)


def rare_value_evidence(wh: Warehouse, persons: ibis.Table, rules: IdentityRules, salt: str,
                        secondary: ibis.Table | None = None) -> RareEvidence:
    """Evidence rows for values exactly two current persons hold and nothing contradicts."""
    cfg = rules.rare
    notes: list[str] = []
    held = account_values(wh, secondary).join(persons, "node").select("comp", "kind", "value").distinct()
    held = wh.materialize("rare_held", held)
    holders = wh.materialize("rare_holders", held.group_by(["kind", "value"]).agg(holders=held.comp.nunique()))
    wanted = []
    if cfg.masked_phones:
        wanted.append("masked")
    if cfg.names:
        wanted.append("name")
    rare = holders.filter(holders.kind.isin(wanted) & (holders.holders == 2)).select("kind", "value")
    blocked = sorted({mask_value(v, t) for t, v in rules.blocked_values if t in PHONE_TYPES})
    if blocked:  # a phone the merchant blocked does not link in its masked form either
        rare = rare.filter(~((rare.kind == "masked") & rare.value.isin(blocked)))
    if cfg.masked_phones:
        common = _common_prefixes(held, cfg.max_chance_holders)
        masked = rare.filter(rare.kind == "masked")
        skipped = masked.mutate(prefix=masked.value.substr(0, 3)).semi_join(common, "prefix").select("kind", "value")
        n_skipped = int(skipped.count().execute())
        if n_skipped:
            notes.append(f"rare_phone: {n_skipped:,} masked phone(s) held by two persons not used: their prefix "
                         f"is shared by more than {cfg.max_chance_holders * HIDDEN_SPACE:,.0f} persons, so a "
                         "chance collision is too likely")
        rare = rare.anti_join(skipped, ["kind", "value"])

    mine, other = held.view(), held.view()
    pairs = (rare.join(mine, ["kind", "value"])
             .join(other, [mine.kind == other.kind, mine.value == other.value, mine.comp < other.comp])
             .select(a=mine.comp, b=other.comp, kind=mine.kind, value=mine.value))
    pairs = wh.materialize("rare_pairs", pairs)
    if int(pairs.count().execute()) == 0:
        return RareEvidence(None, notes)

    judged = wh.materialize("rare_judged", _judge(pairs, held, holders, cfg.common_name_holders))
    # Two persons that share a full phone, or a name and a masked phone, are apart because the
    # identifier steps refused that link (a limit, a never-link pair): it is not tried again here.
    retried = judged.share_phone | (judged.share_name & judged.share_masked)
    ok_phone = (judged.kind == "masked") & ~judged.conflict_name & ~judged.conflict_phone
    ok_name = (judged.kind == "name") & ~judged.conflict_masked
    accepted = judged.filter((ok_phone | ok_name) & ~retried & ~judged.conflict_city & ~judged.share_source)
    accepted = wh.materialize("rare_accepted", accepted.select("a", "b", "kind", "value"))
    if cfg.names:
        short = _short_names(wh, accepted, cfg.min_name_length)
        if short is not None:
            accepted = wh.materialize("rare_long", accepted.anti_join(short, ["kind", "value"]))
    n = int(accepted.count().execute())
    log.info("person-level pass: %d values held by exactly two persons accepted", n)
    if n == 0:
        return RareEvidence(None, notes)

    anchor = persons.group_by("comp").agg(node=persons.node.min())
    id_type = ibis.cases((accepted.kind == "name", ibis.literal(RARE_NAME)), else_=ibis.literal(RARE_PHONE))
    digest = (ibis.literal(salt) + ibis.literal(SEP) + accepted.kind + ibis.literal(SEP) + accepted.value).hexdigest("sha256")
    shown = ibis.cases((accepted.kind == "masked", accepted.value), else_=ibis.null("string"))
    keyed = accepted.mutate(id_type=id_type, id_hash=digest.cast("string"), id_masked=shown)
    sides = [keyed.join(anchor, keyed[side] == anchor.comp).select(anchor.node, keyed.id_type, keyed.id_hash,
                                                                  keyed.id_masked)
             for side in ("a", "b")]
    return RareEvidence(wh.materialize("rare_evidence", ibis.union(*sides)), notes)


def account_values(wh: Warehouse, secondary: ibis.Table | None = None) -> ibis.Table:
    """`(node, kind, value)`: names (keys), masked phones, full phones (hashes), cities and sources;
    without an account's secondary receivers (`identity.receivers`) when given."""
    a, o, i = wh.table("accounts"), wh.table("orders"), wh.table("identifiers")
    an, on, inode = node_of(a.source, a.account_key), node_of(o.source, o.account_key), node_of(i.source, i.account_key)

    def rows(table, node, kind, value, keep) -> ibis.Table:
        return table.filter(keep).select(node=node, kind=ibis.literal(kind, "string"), value=value.cast("string"))

    values = ibis.union(
        rows(a, an, "name", a.name_key, a.name_key.notnull()),
        rows(o, on, "name", o.receiver_name_key, o.receiver_name_key.notnull()),
        rows(i, inode, "masked", i.id_masked, i.id_type.isin(PHONE_TYPES) & i.id_masked.notnull()),
        rows(o, on, "masked", o.receiver_phone_masked, o.receiver_phone_masked.notnull()),
        rows(i, inode, "phone", i.id_hash, (i.id_type == "phone") & ~i.is_partial.fill_null(False)),
        rows(a, an, "city", a.city, a.city.notnull()),
        rows(o, on, "city", o.city, o.city.notnull()),
        rows(a, an, "source", a.source, a.source.notnull()),
        distinct=True,
    )
    if secondary is not None:
        values = values.anti_join(secondary, ["node", "kind", "value"])
    return values


def shared_phones(wh: Warehouse, held: ibis.Table, secondary: ibis.Table | None, max_chance: float) -> ibis.Table:
    """Full phones (`id_type`, `id_hash`, `persons`) whose masked form accounts of more than
    `SHARED_PHONE_HOLDERS` different names show as their own phone, where masks of that prefix are rare
    enough that this is no chance collision: an office or reception phone typed by colleagues, most
    of them shown masked. Names, not persons: before the phone step one human is still several
    accounts. `held` is the buyers' own phone masks per account (`evidence.phone_masks`)."""
    values = account_values(wh, secondary)
    names = values.filter(values.kind == "name").select("node", name="value")
    shown = held.join(names, "node").select("name", value=held.id_hash)
    per_mask = shown.group_by("value").agg(persons=shown.name.nunique())
    crowded = per_mask.filter(per_mask.persons > SHARED_PHONE_HOLDERS)
    prefixes = held.select(comp="node", kind=ibis.literal("masked", "string"), value=held.id_hash)
    common = _common_prefixes(prefixes, max_chance)
    crowded = crowded.mutate(prefix=crowded.value.substr(0, 3)).anti_join(common, "prefix")
    ids = wh.table("identifiers")
    full = ids.filter((ids.id_type == "phone") & ids.id_masked.notnull())
    hit = full.join(crowded, full.id_masked == crowded.value)
    return hit.select(id_type=hit.id_type, id_hash=hit.id_hash, persons=hit.persons).distinct()


def _common_prefixes(held: ibis.Table, max_chance: float) -> ibis.Table:
    """Prefixes of `138****1234`-shaped masks shown by so many persons that the 4 shown digits
    collide by chance too often: persons with the prefix / 10,000 > `max_chance`."""
    masked = held.filter((held.kind == "masked") & (held.value.length() == 11)
                         & (held.value.substr(3, 4) == "****"))
    per_prefix = masked.group_by(prefix=masked.value.substr(0, 3)).agg(persons=masked.comp.nunique())
    return per_prefix.filter(per_prefix.persons > int(max_chance * HIDDEN_SPACE)).select("prefix")


def _judge(pairs: ibis.Table, held: ibis.Table, holders: ibis.Table, common_name_holders: int) -> ibis.Table:
    """Per candidate pair: what the two persons share and where they contradict each other."""
    ids = pairs.select("a", "b").distinct()
    left, right = held.view(), held.view()
    va = ids.join(left, ids.a == left.comp).select(ids.a, ids.b, left.kind, left.value)
    vb = ids.join(right, ids.b == right.comp).select(ids.a, ids.b, right.kind, right.value)
    both = va.join(vb, ["a", "b", "kind", "value"]).select("a", "b", "kind").distinct()
    shared = both.group_by(["a", "b"]).agg(**{f"s_{k}": (both.kind == k).any() for k in KINDS})

    counted = held.join(holders, ["kind", "value"])
    names = counted.filter((counted.kind == "name") & (counted.holders <= common_name_holders))
    phones = counted.filter(counted.kind.isin(["masked", "phone"]) & (counted.holders <= SHARED_PHONE_HOLDERS))
    identifying = ibis.union(names.select("comp", kind=ibis.literal("real_name")),
                             phones.select("comp", kind=ibis.literal("own_") + phones.kind))
    has = held.select("comp", "kind").union(identifying).distinct()
    kinds = (*KINDS, "real_name", "own_masked", "own_phone")
    has = has.group_by("comp").agg(**{f"h_{k}": (has.kind == k).any() for k in kinds})
    shared = shared.rename(sa="a", sb="b")
    ha = has.rename(ca="comp")
    hb = has.rename(cb="comp", **{f"g_{k}": f"h_{k}" for k in kinds})
    flags = (ids.left_join(shared, [ids.a == shared.sa, ids.b == shared.sb])
             .left_join(ha, ids.a == ha.ca).left_join(hb, ids.b == hb.cb))

    def flag(name: str) -> ibis.Value:
        return flags[name].fill_null(False)

    def conflict(has_kind: str, shared_kind: str) -> ibis.Value:
        return flag(f"h_{has_kind}") & flag(f"g_{has_kind}") & ~flag(f"s_{shared_kind}")

    judged = flags.select(
        "a", "b",
        conflict_name=conflict("real_name", "name"), conflict_masked=conflict("own_masked", "masked"),
        conflict_phone=conflict("own_phone", "phone"), conflict_city=conflict("city", "city"),
        share_source=flag("s_source"), share_phone=flag("s_phone"), share_name=flag("s_name"),
        share_masked=flag("s_masked"))
    judged = judged.rename(ja="a", jb="b")
    return pairs.join(judged, [pairs.a == judged.ja, pairs.b == judged.jb]).drop("ja", "jb")


def _short_names(wh: Warehouse, accepted: ibis.Table, min_length: int) -> ibis.Table | None:
    """Accepted name values shorter than `min_length` in comparison form (opened in memory only)."""
    keys = accepted.filter(accepted.kind == "name").select("value").distinct()
    a, o = wh.table("accounts"), wh.table("orders")
    copies = ibis.union(
        a.select(node=node_of(a.source, a.account_key), name=a.name, value=a.name_key),
        o.select(node=node_of(o.source, o.account_key), name=o.receiver_name, value=o.receiver_name_key))
    copies = copies.filter(copies.name.notnull()).semi_join(keys, "value")
    one = copies.group_by("value").agg(node=copies.node.min(), name=copies.name.argmin(copies.node))
    rows = wh.fetch(one).to_pylist()
    if not rows:
        return None
    opened = wh.sealer.open_nodes([r["node"] for r in rows], [r["name"] for r in rows])
    short = [r["value"] for r, name in zip(rows, opened) if name is None or len(comparison_form(name)) < min_length]
    if not short:
        return None
    return ibis.memtable(pa.table({"kind": pa.array(["name"] * len(short), pa.string()),
                                   "value": pa.array(short, pa.string())}))
