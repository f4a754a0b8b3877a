"""Douyin shop (抖店) order export: one row per sub-order (子订单), order fields on every row.

Refunds are per sub-order (售后状态 `退款成功`); the order's refund is their sum. Exports without a
buyer-id column key the account by the receiver (`r:` + keyed hash of name, masked phone and
address): the same receiver then lands on one account, which probabilistic matching links further.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from flywheel.collect.adapters.base import (
    Adapter,
    Batch,
    Columns,
    ReadContext,
    fill_within,
    join_text,
    lines_array,
)
from flywheel.collect.adapters.orders import (
    buyer_rows,
    landed,
    landing_only,
    order_header,
    receiver_columns,
    refund_status,
    sum_within,
    unmasked,
)
from flywheel.collect.reading import RawTable
from flywheel.collect.values import Problems
from flywheel.identifiers import (
    InvalidIdentifier,
    map_distinct,
    normalize_address,
    normalize_name,
    normalize_phone,
    normalize_token,
)

STATUS = {"已完成": "completed", "已发货": "shipped", "待发货": "paid", "待支付": "pending", "已关闭": "cancelled"}
REFUNDED = "退款成功"

ORDER_LEVEL = ("status", "created_at", "receiver_name", "phone", "province", "city", "district", "street",
               "address", "buyer", "influencer", "channel", "store")


class DouyinOrders(Adapter):
    name = "douyin"
    source = "douyin"
    description = "Douyin shop order export, one row per sub-order"
    signature = (("主订单编号",), ("子订单编号",), ("选购商品",))
    columns = {
        "order_id": ("主订单编号", "主订单号"),
        "item_id": ("子订单编号", "子订单号"),
        "title": ("选购商品", "商品名称"),
        "product_id": ("商品ID", "商品id"),
        "sku": ("商家编码", "SKU编码"),
        "quantity": ("商品数量", "购买数量"),
        "unit_price": ("商品单价", "单价"),
        "line_paid": ("订单应付金额", "应付金额"),
        "shipping": ("运费",),
        "discount": ("优惠总金额", "优惠金额"),
        "receiver_name": ("收件人", "收货人"),
        "phone": ("收件人手机号", "收件人电话"),
        "province": ("省", "省份"),
        "city": ("市", "城市"),
        "district": ("区", "区县"),
        "street": ("街道",),
        "address": ("详细地址", "收货地址"),
        "created_at": ("订单提交时间", "下单时间"),
        "paid_at": ("支付完成时间", "支付时间"),
        "status": ("订单状态",),
        "after_sale": ("售后状态",),
        "influencer": ("达人ID", "作者ID"),
        "channel": ("流量来源", "流量渠道"),
        "buyer": ("用户ID", "买家ID"),
        "store": ("店铺名称", "店铺"),
    }
    required = ("order_id", "item_id", "title", "line_paid", "created_at", "status")

    def read(self, raw: RawTable, ctx: ReadContext) -> Batch:
        source = ctx.source or self.source
        c = Columns(raw, self.columns)
        field = c.names()
        lines = lines_array(raw)
        p = Problems(raw.num_rows)
        order_id, col, status, created = order_header(c, field, p, ctx, ORDER_LEVEL, STATUS)
        p.require(c["item_id"], field["item_id"], f"sub-order number ({field['item_id']}) is missing")
        line_paid = p.money(c["line_paid"], field["line_paid"], required=True)
        p.require(c["title"], field["title"], "sub-order has no product")
        address = join_text(col["province"], col["city"], col["district"], col["street"], col["address"])
        buyer = map_distinct(col["buyer"], normalize_token)
        account_key = pc.coalesce(buyer, _receiver_key(ctx, col["receiver_name"], col["phone"], unmasked(address)))
        p.reject(np.asarray(pc.is_null(account_key)), field["buyer"], None,
                 "no buyer id and no receiver to key the account")
        paid_at = p.time(c["paid_at"], field["paid_at"], ctx.timezone)
        quantity = p.count(c["quantity"], field["quantity"])
        price = p.money(c["unit_price"], field["unit_price"])
        shipping = p.money(c["shipping"], field["shipping"])
        discount = p.money(c["discount"], field["discount"])

        refunded = pc.equal(c["after_sale"], REFUNDED).fill_null(False)
        paid = sum_within(order_id, landing_only(line_paid, p))
        refund = sum_within(order_id, landing_only(pc.if_else(refunded, line_paid, 0), p))
        refund = pc.coalesce(refund, pa.scalar(0, pa.int64()))
        status = refund_status(status, paid, refund)
        # Phones are checked once, by identifier_rows below; this Problems is a scratch pad.
        receiver = receiver_columns(ctx, Problems(raw.num_rows), col["receiver_name"], col["phone"],
                                    unmasked(address), field["phone"])
        product_id = pc.coalesce(c["product_id"], c["sku"], c["title"])
        batch = Batch(problems=p, source=source)
        batch.add("orders", landed({
            "source": source, "order_id": order_id, "account_key": account_key, "status": status,
            "status_raw": col["status"], "created_at": created, "paid_at": fill_within(order_id, paid_at),
            "currency": ctx.currency, "paid_cents": paid,
            "discount_cents": sum_within(order_id, landing_only(discount, p)),
            "shipping_cents": sum_within(order_id, landing_only(shipping, p)), "refund_cents": refund, **receiver,
            "province": col["province"], "city": col["city"], "district": col["district"],
            "channel": col["channel"], "influencer_id": col["influencer"], "store": col["store"],
        }, p, lines))
        batch.add("order_items", landed({
            "source": source, "order_id": order_id, "item_id": c["item_id"], "product_id": product_id,
            "title": c["title"], "quantity": quantity, "unit_price_cents": price, "paid_cents": line_paid,
            "refunded": refunded,
        }, p, lines))
        key_type = pc.if_else(pc.is_valid(buyer), pa.scalar("douyin_buyer_id"), pa.scalar("receiver"))
        buyer_rows(batch, ctx, p, lines, source=source, account_key=account_key, key_type=key_type,
                   receiver_name=col["receiver_name"], province=col["province"], city=col["city"],
                   created=created, product_id=product_id, title=c["title"], channel=col["channel"],
                   identifiers=[(id_type, c[role], field[role]) for id_type, role in (
                       ("douyin_buyer_id", "buyer"), ("phone", "phone"))])
        return batch


def _receiver_key(ctx: ReadContext, name: pa.Array, phone: pa.Array, address: pa.Array) -> pa.Array:
    """`r:` + 32 hex of the keyed hash of `name|masked phone|address`; null when neither name nor phone."""
    joined = pc.binary_join_element_wise(name, phone, address, "\x1f", null_handling="replace")

    def key(text: str) -> str | None:
        who, tel, where = text.split("\x1f")
        if not who and not tel:
            return None
        try:
            tel = normalize_phone(tel).value if tel else ""
        except InvalidIdentifier:
            pass
        parts = (normalize_name(who), tel, normalize_address(where))
        return "r:" + ctx.hasher.hash("receiver", "|".join(parts))[:32]

    return map_distinct(joined, key)
