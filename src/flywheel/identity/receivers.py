"""Receivers are not always the buyer: a marketplace account ships to whoever its owner names.

A Taobao or Douyin order shows the receiver's name and phone, and ingestion keeps them on the
buyer's account (the only name and phone those exports show). Most orders go to the buyer; some go
to a spouse, a parent, a colleague. Linking on those would join the buyer to the people they send
gifts to — couples at one address become one person through the wife's name and phone on the
husband's orders. So, per account, the name on more than half of its orders is the buyer's, and
so is the masked phone on more than half of them; an order showing either is to the buyer (a typo
in the name, a new phone, a pinyin spelling keep it so). A receiver name or phone seen only on
orders to someone else is *secondary* — and an account with one order to the buyer and one to the
spouse has no majority; if both receivers buy on other accounts too, nothing says which is the
buyer and both are secondary, otherwise (a parent who never buys) they link as usual. Secondary
receivers do not link the account to anyone (identifier links, the `name_phone` key, the
person-level pass, the match model). It still counts where
caution is the point: the per-person phone limit sees every phone an account shows.
"""

from __future__ import annotations

import ibis

from flywheel.identity.evidence import node_of
from flywheel.warehouse import Warehouse


def secondary_receivers(wh: Warehouse) -> ibis.Table:
    """`(node, kind, value)` of every account's secondary receivers: kind `name` (name key),
    `phone` (phone hash, as in `identifiers`) or `masked` (138****1234)."""
    o = wh.table("orders")
    o = o.select(node=node_of(o.source, o.account_key), order_id=o.order_id, name=o.receiver_name_key,
                 phone=o.receiver_phone_hash, masked=o.receiver_phone_masked)
    flagged = o
    for column in ("name", "masked"):
        primary = _majority(o, column)
        flagged = flagged.left_join(primary, [flagged.node == primary.p_node, flagged[column] == primary.p_value])
        flagged = flagged.mutate(**{f"is_{column}": flagged.p_node.notnull()}).drop("p_node", "p_value")
    flagged = flagged.mutate(decided=flagged.is_name | flagged.is_masked)
    trusted = _undecided_but_single(wh, o, flagged)
    flagged = flagged.left_join(trusted, flagged.node == trusted.u_node)
    flagged = flagged.mutate(buyer=flagged.decided | flagged.u_node.notnull()).drop("u_node")
    seen = ibis.union(*[flagged.select("node", "buyer", kind=ibis.literal(kind, "string"), value=flagged[kind])
                        for kind in ("name", "phone", "masked")])
    seen = seen.filter(seen.value.notnull())
    per_value = seen.group_by(["node", "kind", "value"]).agg(to_buyer=seen.buyer.any())
    minor = per_value.filter(~per_value.to_buyer)
    return wh.materialize("secondary_receivers", minor.select("node", "kind", "value"))


def _majority(orders: ibis.Table, column: str) -> ibis.Table:
    """`(p_node, p_value)`: the value of `column` on more than half of an account's orders that show one."""
    shown = orders.filter(orders[column].notnull())
    per_value = shown.group_by(["node", column]).agg(n=shown.order_id.nunique())
    total = shown.group_by("node").agg(total=shown.order_id.nunique())
    judged = per_value.join(total, "node")
    return judged.filter(judged.n * 2 > judged.total).select(p_node="node", p_value=column)


def _undecided_but_single(wh: Warehouse, orders: ibis.Table, flagged: ibis.Table) -> ibis.Table:
    """`u_node`: accounts with no majority name and no majority phone whose receivers are still taken
    as the buyer's, because at most one of their receiver names is the buyer of some other account.
    An account with one order to the buyer and one to a spouse who buys elsewhere too would bridge
    the two: its receivers link nothing. One to the buyer and one to a parent who never buys: the
    buyer's receivers link as usual."""
    majority = flagged.filter(flagged.decided).select("node").distinct()
    undecided = orders.select("node").distinct().anti_join(majority, "node")
    buyers = flagged.filter(flagged.decided & flagged.name.notnull()).select(b_node="node", b_name="name").distinct()
    a = wh.table("accounts")
    held = a.filter(a.name_key.notnull()).select(b_node=node_of(a.source, a.account_key), b_name=a.name_key)
    buyers = buyers.union(held.anti_join(orders.select(b_node="node").distinct(), "b_node")).distinct()
    names = orders.filter(orders.name.notnull()).semi_join(undecided, "node").select("node", "name").distinct()
    known = names.join(buyers, [names.name == buyers.b_name, names.node != buyers.b_node]).select(
        names.node, names.name).distinct()
    bridges = known.group_by("node").agg(n=known.name.count()).filter(ibis._.n >= 2).select("node")
    return undecided.anti_join(bridges, "node").select(u_node="node")
