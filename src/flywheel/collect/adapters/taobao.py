"""Taobao / Tmall order report (订单报表): one row per order, continuation rows add items.

Tmall stores download the same report from the same seller centre, so one adapter reads both
sources; the store name (`…旗舰店`, `天猫…`) tells them apart unless `--source` says which.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from flywheel.collect.adapters.base import (
    Adapter,
    Batch,
    Columns,
    ReadContext,
    fill_within,
    lines_array,
)
from flywheel.collect.adapters.orders import (
    buyer_rows,
    count_within,
    landed,
    order_header,
    positions_within,
    receiver_columns,
    refund_status,
    split_region,
    unmasked,
)
from flywheel.collect.reading import RawTable
from flywheel.collect.values import Problems
from flywheel.identifiers import (
    map_distinct,
    normalize_token,
)

STATUS = {
    "交易成功": "completed",
    "卖家已发货，等待买家确认": "shipped",
    "买家已付款，等待卖家发货": "paid",
    "等待买家付款": "pending",
    "交易关闭": "cancelled",
}

ORDER_LEVEL = ("buyer", "paid", "status", "shipping", "receiver_name", "address", "mobile", "telephone",
               "created_at", "refund", "store")


class TaobaoOrders(Adapter):
    name = "taobao"
    source = "taobao"
    sources = ("taobao", "tmall")
    description = "Taobao / Tmall order report, one row per order plus continuation rows for more items"
    signature = (("订单编号",), ("买家会员名", "买家昵称"), ("买家实际支付金额", "实付金额"))
    columns = {
        "order_id": ("订单编号", "订单号"),
        "buyer": ("买家会员名", "买家昵称"),
        "paid": ("买家实际支付金额", "实付金额"),
        "status": ("订单状态", "交易状态"),
        "shipping": ("买家应付邮费", "邮费"),
        "receiver_name": ("收货人姓名", "收货人"),
        "address": ("收货地址", "收货人地址"),
        "mobile": ("联系手机", "手机号码"),
        "telephone": ("联系电话",),
        "created_at": ("订单创建时间", "创建时间"),
        "paid_at": ("订单付款时间", "付款时间"),
        "title": ("宝贝标题", "商品标题"),
        "quantity": ("宝贝总数量", "宝贝数量"),
        "refund": ("退款金额",),
        "store": ("店铺名称", "店铺"),
        "cn_id": ("身份证号", "证件号码"),
    }
    required = ("order_id", "buyer", "paid", "status", "created_at")

    def read(self, raw: RawTable, ctx: ReadContext) -> Batch:
        c = Columns(raw, self.columns)
        field = c.names()
        lines = lines_array(raw)
        p = Problems(raw.num_rows)
        order_id, col, status, created = order_header(c, field, p, ctx, ORDER_LEVEL, STATUS)
        p.require(col["buyer"], field["buyer"], f"buyer ({field['buyer']}) is missing")
        paid = p.money(col["paid"], field["paid"], required=True)
        # Optional values are parsed where they were written, then spread over the order's rows,
        # so a bad one is reported once, on its own line.
        paid_at = p.time(c["paid_at"], field["paid_at"], ctx.timezone)
        refund = p.money(c["refund"], field["refund"])
        shipping = p.money(c["shipping"], field["shipping"])
        quantity = p.count(c["quantity"], field["quantity"])
        paid_at = fill_within(order_id, paid_at)
        refund = pc.coalesce(fill_within(order_id, refund), pa.scalar(0, pa.int64()))
        shipping = fill_within(order_id, shipping)
        status = refund_status(status, paid, refund)

        source = ctx.source or _source_by_store(col["store"])
        account_key = map_distinct(col["buyer"], normalize_token)
        region = split_region(col["address"])
        phone = pc.coalesce(col["mobile"], col["telephone"])
        # Invalid phones are recorded once, by identifier_rows below; this Problems is a scratch pad.
        receiver = receiver_columns(ctx, Problems(raw.num_rows), col["receiver_name"], phone,
                                    unmasked(col["address"]), field["mobile"])
        single_line = pc.equal(count_within(order_id), 1)
        batch = Batch(problems=p, source=_main_source(source, p))
        batch.add("orders", landed({
            "source": source, "order_id": order_id, "account_key": account_key, "status": status,
            "status_raw": col["status"], "created_at": created, "paid_at": paid_at, "currency": ctx.currency,
            "paid_cents": paid, "shipping_cents": shipping, "refund_cents": refund, **receiver,
            "province": region[0], "city": region[1], "district": region[2], "store": col["store"],
        }, p, lines))
        batch.add("order_items", landed({
            "source": source, "order_id": order_id, "item_id": positions_within(order_id),
            "product_id": c["title"], "title": c["title"], "quantity": quantity,
            "paid_cents": pc.if_else(single_line, paid, pa.scalar(None, pa.int64())),
            "refunded": pc.equal(status, "refunded"),
        }, p, lines))
        buyer_rows(batch, ctx, p, lines, source=source, account_key=account_key, key_type="taobao_nick",
                   receiver_name=col["receiver_name"], province=region[0], city=region[1], created=created,
                   product_id=c["title"], title=c["title"],
                   identifiers=[(id_type, c[role], field[role]) for id_type, role in (
                       ("taobao_nick", "buyer"), ("phone", "mobile"), ("phone", "telephone"), ("cn_id", "cn_id"))])
        return batch


def _source_by_store(store: pa.Array) -> pa.Array:
    """`tmall` for flagship (旗舰店) and 天猫 stores, else `taobao`."""
    tmall = pc.or_(pc.ends_with(store, pattern="旗舰店"), pc.match_substring(store, "天猫")).fill_null(False)
    return pc.if_else(tmall, pa.scalar("tmall"), pa.scalar("taobao"))


def _main_source(source: str | pa.Array, problems: Problems) -> str:
    """The source most landing rows belong to, for the file's report line."""
    if isinstance(source, str):
        return source
    kept = source.filter(pa.array(~problems.rejected))
    counts = pc.value_counts(kept).to_pylist() if len(kept) else []
    return max(counts, key=lambda r: (r["counts"], r["values"] == "taobao"))["values"] if counts else "taobao"
