"""Receivers are not always the buyer: a marketplace account ships to whoever its owner names.

A Taobao or Douyin order shows the receiver's name and phone, and ingestion keeps them on the
buyer's account (the only name and phone those exports show). Most orders go to the buyer; some go
to a spouse, a parent, a colleague. Linking on those would join the buyer to the people they send
gifts to — couples at one address become one person through the wife's name and phone on the
husband's orders. So, per account, the name on more than half of its orders is the buyer's, and
so is the masked phone on more than half of them; an order showing either is to the buyer (a typo
in the name, a new phone, a pinyin spelling keep it so). A receiver name or phone seen only on
orders to someone else is *secondary* — and an account with one order to the buyer and one to the
spouse has no majority, so nothing says which is the buyer and both are: it does not link the
account to anyone (identifier links, the `name_phone` key, the person-level pass, the match model). It still counts where
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
    flagged = flagged.mutate(buyer=flagged.is_name | flagged.is_masked)
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
