"""Receivers are not always the buyer: a marketplace account ships to whoever its owner names.

A Taobao or Douyin order shows the receiver's name and phone, and ingestion keeps them on the
buyer's account (the only name and phone those exports show). Most orders go to the buyer; some go
to a spouse, a parent, a colleague. Linking on those would join the buyer to the people they send
gifts to — couples at one address become one person through the wife's name and phone on the
husband's orders. So, per account, a receiver name or phone seen on half of its orders or fewer is
*secondary* (an account with one order to the buyer and one to the spouse has no primary receiver:
nothing says which is the buyer): it does not link the account to anyone (identifier links, the
`name_phone` key, the person-level pass). It still counts where
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
    node = node_of(o.source, o.account_key)
    seen = ibis.union(
        o.select(node=node, order_id=o.order_id, kind=ibis.literal("name", "string"), value=o.receiver_name_key),
        o.select(node=node, order_id=o.order_id, kind=ibis.literal("phone", "string"), value=o.receiver_phone_hash),
        o.select(node=node, order_id=o.order_id, kind=ibis.literal("masked", "string"), value=o.receiver_phone_masked),
    )
    seen = seen.filter(seen.value.notnull())
    per_value = seen.group_by(["node", "kind", "value"]).agg(n=seen.order_id.nunique())
    per_account = seen.group_by(["node", "kind"]).agg(total=seen.order_id.nunique())
    judged = per_value.join(per_account, ["node", "kind"])
    minor = judged.filter(judged.n * 2 <= judged.total)
    return wh.materialize("secondary_receivers", minor.select("node", "kind", "value"))
