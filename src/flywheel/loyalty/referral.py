"""Referral fission (裂变): who brought whom, whether it counts, the two-sided reward, and K per generation.

`referral run` reads the ingested `Referral Shared` / `Referral Accepted` events (the `referrals` table)
and decides every acceptance, in time order:
- the inviter of an acceptance is the person who recorded its share (else the person holding the
  inviter's userId); the invitee is the person of the acceptance;
- refused, each with a reason code: `same_person` (the identity graph joins them), `existing_customer`
  (a paid order before the click), `window_expired` (clicked more than `window_days` after the
  share), `already_bound` (the first valid binding wins and stays), `shared_device`, `shared_phone`,
  `shared_address` (the invitee shares a device id, phone or normalised address with the inviter),
  `ring` (the inviter's invitees share one device or address `ring_size` times or more),
  `disposable_email`;
- a bound invitee who pays converts; both sides get a coupon once the review period after that
  first paid order has passed without a full refund (`cancelled` otherwise), within the caps per
  inviter, per household (shared address) and the campaign budget. Codes derive from the binding,
  so reruns issue nothing new.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections import Counter, defaultdict

import ibis
import pyarrow as pa

from flywheel.schema import table as catalog_table
from flywheel.schema.orders import GMV_STATUSES
from flywheel.warehouse import account_persons

CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"


def _secret(wh) -> bytes:
    from flywheel.keys import load_or_create_key

    return hmac.new(load_or_create_key(wh.settings.key_file), b"flywheel referral codes", "sha256").digest()


def invite_code(wh, person: str) -> str:
    """A person's invite code: stable, unguessable, 10 characters without look-alikes."""
    digest = hmac.new(_secret(wh), f"invite:{person}".encode(), hashlib.sha256).digest()
    return "".join(CODE_ALPHABET[b % len(CODE_ALPHABET)] for b in digest[:10])


def _coupon(secret: bytes, binding: str, side: str) -> str:
    digest = hmac.new(secret, f"referral:{binding}:{side}".encode(), hashlib.sha256).digest()
    return "RF" + "".join(CODE_ALPHABET[b % len(CODE_ALPHABET)] for b in digest[:10])


def _event_persons(wh) -> ibis.Table:
    events = wh.table("events")
    key = ibis.coalesce(events.user_id, ibis.literal("anon:") + events.anonymous_id)
    events = events.mutate(account_key=key)
    return events.join(account_persons(wh), ["source", "account_key"]).select("message_id", "person_id", "anonymous_id")


def acceptances(wh, now: dt.datetime) -> list[dict]:
    """Every acceptance up to `now` with its inviter and invitee persons, oldest first."""
    r = wh.table("referrals")
    e = _event_persons(wh)
    r = r.join(e.select("message_id", "person_id"), "message_id")
    shares = r.filter(r.shared_at.notnull())
    sharer_of = shares.group_by("share_id").agg(share_person=shares.person_id.min(), share_at=shares.shared_at.min(),
                                                share_channel=shares.channel.min())
    accepted = r.filter(r.accepted_at.notnull() & (r.accepted_at <= now))
    accepted = accepted.left_join(sharer_of, "share_id")
    accounts = wh.table("accounts")
    users = accounts.filter(accounts.account_key_type == "user_id").select("source", "account_key").join(
        account_persons(wh), ["source", "account_key"])
    users = users.group_by("account_key").agg(user_person=users.person_id.min())
    accepted = accepted.left_join(users, accepted.sharer_user_id == users.account_key)
    out = accepted.select(share_id=accepted.share_id, invitee=accepted.person_id,
                          inviter=ibis.coalesce(accepted.share_person, accepted.user_person),
                          accepted_at=accepted.accepted_at, shared_at=accepted.share_at,
                          channel=ibis.coalesce(accepted.channel, accepted.share_channel))
    out = out.filter(out.inviter.notnull()).order_by(["accepted_at", "invitee", "share_id"])
    return wh.fetch(out).to_pylist()


def _traits(wh, persons: list[str]) -> dict[str, dict[str, set]]:
    """Per person: device ids, phone hashes, address hashes, e-mail domains (fraud evidence)."""
    wanted = ibis.memtable({"person_id": persons}, schema={"person_id": "string"})
    found: dict[str, dict[str, set]] = defaultdict(lambda: defaultdict(set))
    e = _event_persons(wh)
    e = e.filter(e.anonymous_id.notnull()).semi_join(wanted, "person_id")
    for row in wh.fetch(e.select("person_id", "anonymous_id").distinct()).to_pylist():
        found[row["person_id"]]["device"].add(row["anonymous_id"])
    mine = account_persons(wh)
    mine = mine.filter(mine.person_id.isin(wanted.person_id))
    ids = wh.table("identifiers")
    ids = ids.filter(ids.id_type.isin(("phone", "email"))).join(mine, ["source", "account_key"])
    for row in wh.fetch(ids.select("person_id", "id_type", "id_hash", "id_masked")).to_pylist():
        if row["id_type"] == "phone":
            found[row["person_id"]]["phone"].add(row["id_hash"])
        elif row["id_masked"] and "@" in row["id_masked"]:
            found[row["person_id"]]["email_domain"].add(row["id_masked"].rsplit("@", 1)[1].lower())
    orders = wh.table("orders")
    orders = orders.filter(orders.receiver_address_hash.notnull()).join(mine, ["source", "account_key"])
    for row in wh.fetch(orders.select("person_id", "receiver_address_hash").distinct()).to_pylist():
        found[row["person_id"]]["address"].add(row["receiver_address_hash"])
    return found


def _first_orders(wh, persons: list[str]) -> dict[str, list[tuple]]:
    """Per person, their GMV orders as (paid time, paid cents, refund cents), oldest first."""
    wanted = ibis.memtable({"person_id": persons}, schema={"person_id": "string"})
    orders = wh.table("orders")
    gmv = orders.filter(orders.status.isin(GMV_STATUSES), orders.paid_cents > 0)
    people = account_persons(wh)
    mine = gmv.join(people.filter(people.person_id.isin(wanted.person_id)), ["source", "account_key"])
    rows = wh.fetch(mine.select("person_id", at=ibis.coalesce(mine.paid_at, mine.created_at), paid=mine.paid_cents,
                                refund=mine.refund_cents.fill_null(0))).to_pylist()
    out: dict[str, list[tuple]] = defaultdict(list)
    for row in sorted(rows, key=lambda r: r["at"]):
        out[row["person_id"]].append((row["at"], row["paid"], row["refund"]))
    return out


def decide(wh, rules, now: dt.datetime) -> list[dict]:
    """The verdict on every acceptance (see the module docstring), with conversions and rewards."""
    cfg = rules.referral
    seen = acceptances(wh, now)
    persons = sorted({a["invitee"] for a in seen} | {a["inviter"] for a in seen})
    traits = _traits(wh, persons) if persons else {}
    orders = _first_orders(wh, persons) if persons else {}
    stored = {}
    if wh.count("referral_bindings"):
        b = wh.table("referral_bindings")
        for row in wh.fetch(b.filter(b.status == "bound")).to_pylist():
            stored[row["invitee"]] = row
    invitee_devices: dict[str, Counter] = defaultdict(Counter)
    invitee_addresses: dict[str, Counter] = defaultdict(Counter)
    for a in seen:
        invitee_devices[a["inviter"]].update(traits.get(a["invitee"], {}).get("device", ()))
        invitee_addresses[a["inviter"]].update(traits.get(a["invitee"], {}).get("address", ()))
    bound: dict[str, dict] = {}
    verdicts = []
    window = dt.timedelta(days=cfg.window_days)
    for a in seen:
        invitee, inviter = a["invitee"], a["inviter"]
        mine, theirs = traits.get(invitee, {}), traits.get(inviter, {})
        fixed = stored.get(invitee)
        if fixed and not (fixed["inviter"] == inviter and fixed["accepted_at"] == a["accepted_at"]):
            reason = "already_bound"
        elif invitee in bound:
            reason = "already_bound"
        elif invitee == inviter:
            reason = "same_person"
        elif any(t < a["accepted_at"] for t, _, _ in orders.get(invitee, ())):
            reason = "existing_customer"
        elif a["shared_at"] is not None and a["accepted_at"] - a["shared_at"] > window:
            reason = "window_expired"
        elif mine.get("device", set()) & theirs.get("device", set()):
            reason = "shared_device"
        elif mine.get("phone", set()) & theirs.get("phone", set()):
            reason = "shared_phone"
        elif mine.get("address", set()) & theirs.get("address", set()):
            reason = "shared_address"
        elif any(invitee_devices[inviter][d] >= cfg.ring_size for d in mine.get("device", ())) or \
                any(invitee_addresses[inviter][x] >= cfg.ring_size for x in mine.get("address", ())):
            reason = "ring"
        elif mine.get("email_domain", set()) & set(cfg.disposable_domains):
            reason = "disposable_email"
        else:
            reason = None
        verdict = a | {"status": "refused" if reason else "bound", "reason": reason, "converted_at": None,
                       "reward": None, "reward_at": None, "inviter_coupon": None, "invitee_coupon": None}
        if reason is None:
            bound[invitee] = verdict
        verdicts.append(verdict)
    _rewards(wh, cfg, bound, orders, traits, now)
    return verdicts


def _rewards(wh, cfg, bound: dict[str, dict], orders: dict, traits: dict, now: dt.datetime) -> None:
    """Conversion and the two-sided reward of each binding, in conversion order under the caps."""
    secret = _secret(wh)
    per_inviter: Counter = Counter()
    per_household: Counter = Counter()
    spent = 0
    converted = []
    for v in bound.values():
        later = [o for o in orders.get(v["invitee"], ()) if o[0] >= v["accepted_at"]]
        if later:
            v["converted_at"] = later[0][0]
            converted.append((later[0], v))
    for (at, paid, refunded), v in sorted(converted, key=lambda c: (c[0][0], c[1]["invitee"])):
        due = at + dt.timedelta(days=cfg.review_days)
        if refunded >= paid:
            v["reward"] = "cancelled"
            continue
        if due > now:
            v["reward"] = "pending"
            continue
        household = min(traits.get(v["inviter"], {}).get("address", set()) or {v["inviter"]})
        if cfg.per_person is not None and per_inviter[v["inviter"]] >= cfg.per_person:
            v["reward"] = "capped_person"
        elif cfg.per_household is not None and per_household[household] >= cfg.per_household:
            v["reward"] = "capped_household"
        elif cfg.budget_cents is not None and spent + 2 * cfg.reward_cents > cfg.budget_cents:
            v["reward"] = "capped_budget"
        else:
            per_inviter[v["inviter"]] += 1
            per_household[household] += 1
            spent += 2 * cfg.reward_cents
            binding = f"{v['invitee']}:{v['accepted_at'].isoformat()}"
            v |= {"reward": "issued", "reward_at": due, "inviter_coupon": _coupon(secret, binding, "inviter"),
                  "invitee_coupon": _coupon(secret, binding, "invitee")}


def run(gate, rules, now: dt.datetime) -> dict:
    """Decide every acceptance, store the verdicts, issue the due coupons (idempotent)."""
    wh = gate.warehouse
    verdicts = decide(wh, rules, now)
    cfg = rules.referral
    coupons = []
    for v in verdicts:
        if v["reward"] == "issued":
            for side in ("inviter", "invitee"):
                coupons.append({"code": v[f"{side}_coupon"], "person_id": v[side], "step": f"referral:{side}",
                                "value_cents": cfg.reward_cents, "min_order_cents": cfg.min_order_cents,
                                "valid_from": v["reward_at"], "valid_until": v["reward_at"] + dt.timedelta(days=cfg.valid_days),
                                "issued_at": v["reward_at"]})
    names = [f.name for f in catalog_table("referral_bindings").fields]
    rows = [{k: v.get(k) for k in names if k != "decided_at"} | {"decided_at": now} for v in verdicts]
    with wh.transaction():
        wh.replace("referral_bindings", wh.table("referral_bindings").filter(ibis.literal(False)))
        if rows:
            wh.append("referral_bindings", pa.Table.from_pylist(rows))
        issued = len(wh.insert_new("coupons", pa.Table.from_pylist(coupons))) if coupons else 0
    refused = Counter(v["reason"] for v in verdicts if v["status"] == "refused")
    rewards = Counter(v["reward"] for v in verdicts if v["reward"])
    outcome = {"acceptances": len(verdicts), "bound": sum(v["status"] == "bound" for v in verdicts),
               "refused": dict(sorted(refused.items())), "rewards": dict(sorted(rewards.items())),
               "coupons_issued": issued, "now": now.isoformat()}
    gate.audit("referral.run", detail=outcome)
    return outcome


def _members(wh) -> set[str]:
    """Persons with at least one GMV order (what a conversion makes of an invitee)."""
    orders = wh.table("orders")
    gmv = orders.filter(orders.status.isin(GMV_STATUSES), orders.paid_cents > 0)
    buyers = gmv.join(account_persons(wh), ["source", "account_key"]).select("person_id").distinct()
    return set(wh.fetch(buyers).column(0).to_pylist())


def _shares(wh) -> tuple[Counter, int, int]:
    """Shares sent per person, all shares, all acceptances (visits through a share)."""
    r = wh.table("referrals")
    e = _event_persons(wh)
    shares = r.filter(r.shared_at.notnull()).join(e.select("message_id", "person_id"), "message_id")
    per = Counter({row["person_id"]: row["n"]
                   for row in wh.fetch(shares.group_by("person_id").agg(n=shares.count())).to_pylist()})
    visits = int(r.filter(r.accepted_at.notnull()).count().execute())
    return per, sum(per.values()), visits


def generations(members: set[str], referred: dict[str, str], invites: Counter) -> tuple[list[dict], dict[str, int]]:
    """K per generation: generation 0 are the members nobody referred, generation n+1 the persons
    generation n's invites converted. K = invites per member × conversions per invite."""
    gen: dict[str, int] = {}
    for first in sorted(members | set(referred)):
        path, p = [], first
        while p not in gen and p in referred and p not in path:
            path.append(p)
            p = referred[p]
        if p in path:  # a cycle (each converted the other): its entry counts as generation 0
            gen[p], path = 0, path[:path.index(p)]
        base = gen.setdefault(p, 0)
        for q in reversed(path):
            base += 1
            gen[q] = base
    rows = []
    for g in range(max((gen[p] for p in members), default=-1) + 1):
        mine = [p for p in members if gen[p] == g]
        sent = sum(invites[p] for p in mine)
        conversions = sum(1 for child, parent in referred.items() if child in members and gen.get(parent) == g
                          and parent in members)
        rows.append({"generation": g, "members": len(mine), "invites": sent, "conversions": conversions,
                     "conversion_per_invite": conversions / sent if sent else 0.0,
                     "invites_per_member": sent / len(mine) if mine else 0.0,
                     "k": (sent / len(mine)) * (conversions / sent) if mine and sent else 0.0})
    return rows, gen


def trees(referred: dict[str, str], gen: dict[str, int]) -> list[dict]:
    """Every referral tree (a root and all it converted, transitively): size, depth and structural
    virality — the mean distance between two of its members (Goel et al., 2016), computed from the
    edges: each edge lies on the path of size_below × (size − size_below) pairs."""
    children: dict[str, list[str]] = defaultdict(list)
    for child, parent in referred.items():
        children[parent].append(child)
    roots = sorted(p for p in children if p not in referred)
    out = []
    for root in roots:
        order, stack, depth = [], [(root, 0)], {}
        while stack:
            node, d = stack.pop()
            depth[node] = d
            order.append(node)
            stack.extend((c, d + 1) for c in sorted(children.get(node, ())) if c not in depth)
        size_below = {}
        for node in reversed(order):
            size_below[node] = 1 + sum(size_below[c] for c in children.get(node, ()) if c in size_below)
        n = len(order)
        wiener = sum(size_below[node] * (n - size_below[node]) for node in order if node != root)
        out.append({"root": root, "size": n, "depth": max(depth.values()),
                    "structural_virality": wiener / (n * (n - 1) / 2) if n > 1 else 0.0})
    return sorted(out, key=lambda t: (-t["size"], t["root"]))


def stats(gate, top: int = 10) -> dict:
    """`referral stats`: generations with K, depth, referred share, trees, visits per share and the
    fraud-adjusted KOC leaderboard, from the last `referral run`'s verdicts. Aggregates for any role;
    the person ids of roots and KOCs are pseudonymous (L2) and withheld below it."""
    wh = gate.warehouse
    members = _members(wh)
    b = wh.fetch("referral_bindings").to_pylist()
    referred = {v["invitee"]: v["inviter"] for v in b if v["status"] == "bound" and v["converted_at"] is not None}
    invites, shares, visits = _shares(wh)
    rows, gen = generations(members, referred, invites)
    forest = trees(referred, gen)
    board: dict[str, dict] = defaultdict(lambda: {"conversions": 0, "bound": 0, "refused": 0, "refused_by_reason": Counter()})
    for v in b:
        entry = board[v["inviter"]]
        if v["status"] == "bound":
            entry["bound"] += 1
            entry["conversions"] += v["converted_at"] is not None
        else:
            entry["refused"] += 1
            entry["refused_by_reason"][v["reason"]] += 1
    leaders = sorted(board.items(), key=lambda kv: (-kv[1]["conversions"], kv[1]["refused"], kv[0]))[:top]
    show = gate.disclosure.value
    referred_members = sum(1 for p in members if gen.get(p, 0) > 0)
    return gate.disclosed({
        "generations": rows, "depth": max((r["generation"] for r in rows if r["members"]), default=0),
        "referred_share": referred_members / len(members) if members else 0.0,
        "members": len(members), "shares": shares, "visits": visits,
        "visits_per_share": visits / shares if shares else 0.0,
        "trees": [t | {"root": show("points", "person_id", t["root"], 2)} for t in forest[:top]],
        "trees_total": len(forest),
        "refused_by_reason": dict(sorted(Counter(v["reason"] for v in b if v["status"] == "refused").items())),
        "rewards": dict(sorted(Counter(v["reward"] for v in b if v["reward"]).items())),
        "koc_leaderboard": [{"person_id": show("points", "person_id", p, 2), "conversions": e["conversions"],
                             "bound": e["bound"], "refused": e["refused"],
                             "refused_by_reason": dict(sorted(e["refused_by_reason"].items()))} for p, e in leaders],
    })

referral_stats = stats
