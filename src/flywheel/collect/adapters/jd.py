"""JD (京东) order export: one row per order line, order fields repeated on every line.

The order's paid amount is the sum of its lines' 应付金额, counted over the lines that land, so a
rejected line never inflates GMV.
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
    landed,
    landing_only,
    order_header,
    positions_within,
    receiver_columns,
    split_region,
    sum_within,
    unmasked,
)
from flywheel.collect.reading import RawTable
from flywheel.collect.values import Problems
from flywheel.identifiers import (
    map_distinct,
    normalize_token,
)

STATUS = {
    "完成": "completed",
    "等待确认收货": "shipped",
    "等待出库": "paid",
    "等待付款": "pending",
    "已取消": "cancelled",
    "锁定": "cancelled",
    "退款成功": "refunded",
}

ORDER_LEVEL = ("buyer", "status", "created_at", "receiver_name", "address", "phone", "store", "cn_id")


class JdOrders(Adapter):
    name = "jd"
    source = "jd"
    description = "JD order export, one row per order line"
    signature = (("订单号", "订单编号"), ("下单帐号", "下单账号"), ("京东价",))
    columns = {
        "order_id": ("订单号", "订单编号"),
        "product_id": ("商品ID", "商品编号"),
        "title": ("商品名称",),
        "quantity": ("订购数量", "商品数量"),
        "unit_price": ("京东价", "商品单价"),
        "line_paid": ("应付金额", "实付金额"),
        "created_at": ("下单时间", "订单创建时间"),
        "paid_at": ("付款确认时间", "付款时间"),
        "status": ("订单状态",),
        "buyer": ("下单帐号", "下单账号"),
        "receiver_name": ("客户姓名", "收货人姓名"),
        "address": ("客户地址", "收货地址"),
        "phone": ("联系电话", "手机号码"),
        "store": ("店铺名称", "店铺"),
        "cn_id": ("证件号码", "身份证号"),
    }
    required = ("order_id", "title", "line_paid", "created_at", "status", "buyer")

    def read(self, raw: RawTable, ctx: ReadContext) -> Batch:
        source = ctx.source or self.source
        c = Columns(raw, self.columns)
        field = c.names()
        lines = lines_array(raw)
        p = Problems(raw.num_rows)
        order_id, col, status, created = order_header(c, field, p, ctx, ORDER_LEVEL, STATUS)
        p.require(col["buyer"], field["buyer"], f"buyer account ({field['buyer']}) is missing")
        line_paid = p.money(c["line_paid"], field["line_paid"], required=True)
        p.require(c["title"], field["title"], "order line has no product name")
        paid_at = p.time(c["paid_at"], field["paid_at"], ctx.timezone)
        paid_at = fill_within(order_id, paid_at)
        quantity = p.count(c["quantity"], field["quantity"])
        price = p.money(c["unit_price"], field["unit_price"])

        paid = sum_within(order_id, landing_only(line_paid, p))
        refunded = pc.equal(status, "refunded").fill_null(False)
        refund = pc.if_else(refunded, paid, pa.scalar(0, pa.int64()))
        account_key = map_distinct(col["buyer"], normalize_token)
        region = split_region(col["address"])
        # Invalid phones are recorded once, by identifier_rows below; this Problems is a scratch pad.
        receiver = receiver_columns(ctx, Problems(raw.num_rows), col["receiver_name"], col["phone"],
                                    unmasked(col["address"]), field["phone"])
        product_id = pc.coalesce(c["product_id"], c["title"])
        batch = Batch(problems=p, source=source)
        batch.add("orders", landed({
            "source": source, "order_id": order_id, "account_key": account_key, "status": status,
            "status_raw": col["status"], "created_at": created, "paid_at": paid_at, "currency": ctx.currency,
            "paid_cents": paid, "refund_cents": refund, **receiver,
            "province": region[0], "city": region[1], "district": region[2], "store": col["store"],
        }, p, lines))
        batch.add("order_items", landed({
            "source": source, "order_id": order_id, "item_id": positions_within(order_id),
            "product_id": product_id, "title": c["title"], "quantity": quantity,
            "unit_price_cents": price, "paid_cents": line_paid, "refunded": refunded,
        }, p, lines))
        buyer_rows(batch, ctx, p, lines, source=source, account_key=account_key, key_type="jd_pin",
                   receiver_name=col["receiver_name"], province=region[0], city=region[1], created=created,
                   product_id=product_id, title=c["title"],
                   identifiers=[(id_type, c[role], field[role]) for id_type, role in (
                       ("jd_pin", "buyer"), ("phone", "phone"), ("cn_id", "cn_id"))])
        return batch
