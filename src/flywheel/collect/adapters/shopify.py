"""Shopify orders export (`orders_export.csv`): one row per line item."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from flywheel.collect.adapters.base import (
    Adapter,
    Batch,
    Columns,
    ReadContext,
    fill_within,
    identifier_rows,
    join_text,
    lines_array,
)
from flywheel.collect.adapters.orders import (
    consent_rows,
    landed,
    positions_within,
    receiver_columns,
    yes_no,
)
from flywheel.collect.reading import RawTable
from flywheel.collect.values import (
    Problems,
    map_values,
    parse_money,
    parse_time,
)
from flywheel.identifiers import (
    InvalidIdentifier,
    map_distinct,
    mask_value,
    normalize_email,
    normalize_name,
    placeholder_reason,
)

STATUS = {
    "paid": "paid",
    "partially_paid": "paid",
    "partially_refunded": "partially_refunded",
    "refunded": "refunded",
    "pending": "pending",
    "authorized": "pending",
    "expired": "cancelled",
    "voided": "cancelled",
}

ORDER_LEVEL = ("financial_status", "created_at", "total", "currency", "email", "phone")


class ShopifyOrders(Adapter):
    name = "shopify"
    source = "shopify"
    description = "Shopify orders export, one row per line item"
    signature = (("Name",), ("Financial Status",), ("Lineitem name",))
    columns = {
        "order_id": ("Name",),
        "email": ("Email",),
        "phone": ("Phone",),
        "billing_phone": ("Billing Phone",),
        "shipping_phone": ("Shipping Phone",),
        "financial_status": ("Financial Status",),
        "paid_at": ("Paid at",),
        "created_at": ("Created at",),
        "cancelled_at": ("Cancelled at",),
        "currency": ("Currency",),
        "shipping": ("Shipping",),
        "total": ("Total",),
        "discount_amount": ("Discount Amount",),
        "discount_code": ("Discount Code",),
        "refunded_amount": ("Refunded Amount",),
        "accepts_marketing": ("Accepts Marketing", "Accepts Email Marketing"),
        "item_quantity": ("Lineitem quantity",),
        "item_name": ("Lineitem name",),
        "item_price": ("Lineitem price",),
        "item_sku": ("Lineitem sku",),
        "billing_name": ("Billing Name",),
        "shipping_name": ("Shipping Name",),
        "shipping_address": ("Shipping Address1", "Shipping Street"),
        "shipping_city": ("Shipping City",),
        "shipping_zip": ("Shipping Zip",),
        "shipping_province": ("Shipping Province Name", "Shipping Province"),
        "shipping_country": ("Shipping Country",),
        "channel": ("Source",),
        "platform_id": ("Id",),
    }
    required = ("order_id", "financial_status", "created_at", "total", "item_name")

    def read(self, raw: RawTable, ctx: ReadContext) -> Batch:
        source = ctx.source or self.source
        c = Columns(raw, self.columns)
        lines = lines_array(raw)
        p = Problems(raw.num_rows)
        order_id = c["order_id"]
        p.require(order_id, "Name", "order number (Name) is missing")
        col = {role: fill_within(order_id, c[role]) for role in ORDER_LEVEL}

        status, bad_status = map_values(pc.utf8_lower(col["financial_status"]), STATUS)
        p.require(col["financial_status"], "Financial Status")
        p.reject(bad_status, "Financial Status", col["financial_status"], "unknown Financial Status")
        created = p.time(col["created_at"], "Created at", ctx.timezone, required=True)
        total = p.money(col["total"], "Total", required=True)
        paid_at, bad_paid = parse_time(fill_within(order_id, c["paid_at"]), ctx.timezone)
        p.drop(bad_paid, "Paid at", c["paid_at"], "unparseable date-time")
        cancelled_at, _ = parse_time(fill_within(order_id, c["cancelled_at"]), ctx.timezone)
        status = pc.if_else(pc.is_valid(cancelled_at), pa.scalar("cancelled"), status)
        refund, bad_refund = parse_money(fill_within(order_id, c["refunded_amount"]))
        p.drop(bad_refund, "Refunded Amount", c["refunded_amount"], "not an amount of money")
        shipping, _ = parse_money(fill_within(order_id, c["shipping"]))
        discount, _ = parse_money(fill_within(order_id, c["discount_amount"]))
        quantity = p.count(c["item_quantity"], "Lineitem quantity")
        price = p.money(c["item_price"], "Lineitem price")
        p.require(c["item_name"], "Lineitem name", "line item has no name")

        email_hash = map_distinct(col["email"], lambda v: _email_key(ctx, v))
        account_key = pc.coalesce(
            email_hash,
            pc.binary_join_element_wise(pa.scalar("guest:"), order_id, ""),
        )
        country = fill_within(order_id, c["shipping_country"])
        address = join_text(c["shipping_address"], c["shipping_city"], c["shipping_province"], c["shipping_zip"], country)
        receiver = receiver_columns(ctx, Problems(raw.num_rows), fill_within(order_id, c["shipping_name"]),
                                    fill_within(order_id, c["shipping_phone"]), address, "Shipping Phone")
        currency = pc.coalesce(pc.utf8_upper(col["currency"]), pa.scalar(ctx.currency))
        batch = Batch(problems=p, source=source)  # receiver phones are also identifiers: quarantined once, below
        batch.add("orders", landed({
            "source": source, "order_id": order_id, "account_key": account_key, "status": status,
            "status_raw": col["financial_status"], "created_at": created, "paid_at": paid_at,
            "currency": currency, "paid_cents": total, "discount_cents": discount, "shipping_cents": shipping,
            "discount_code": pc.utf8_trim_whitespace(fill_within(order_id, c["discount_code"])),
            "refund_cents": pc.coalesce(refund, pa.scalar(0, pa.int64())),
            **receiver,
            "province": fill_within(order_id, c["shipping_province"]),
            "city": fill_within(order_id, c["shipping_city"]),
            "channel": fill_within(order_id, c["channel"]),
        }, p, lines))
        paid_line = pc.multiply(price, pc.coalesce(quantity, pa.scalar(1, pa.int64())))
        batch.add("order_items", landed({
            "source": source, "order_id": order_id, "item_id": positions_within(order_id),
            "product_id": pc.coalesce(c["item_sku"], c["item_name"]), "title": c["item_name"],
            "quantity": quantity, "unit_price_cents": price, "paid_cents": paid_line,
            "refunded": pc.equal(status, "refunded"),
        }, p, lines))
        batch.add("products", landed({
            "product_id": pc.coalesce(c["item_sku"], c["item_name"]), "title": c["item_name"],
            "first_seen_at": created,
        }, p, lines))
        billing_name = fill_within(order_id, c["billing_name"])
        batch.add("accounts", landed({
            "source": source, "account_key": account_key,
            "account_key_type": pc.if_else(pc.is_valid(email_hash), pa.scalar("email"), pa.scalar("guest")),
            "display_key": map_distinct(col["email"], lambda v: _masked_email(v)),
            "name": map_distinct(billing_name, normalize_name),
            "name_masked": map_distinct(billing_name, lambda v: normalize_name(v)[:1] + "**"),
            "province": fill_within(order_id, c["shipping_province"]),
            "city": fill_within(order_id, c["shipping_city"]),
            "country": country, "channel": fill_within(order_id, c["channel"]), "first_seen_at": created,
        }, p, lines))
        common = dict(source=source, account_key=account_key, seen_at=created, lines=lines)
        for role, header in (("email", "Email"), ("phone", "Phone"), ("billing_phone", "Billing Phone"),
                             ("shipping_phone", "Shipping Phone")):
            id_type = "email" if role == "email" else "phone"
            values = col[role] if role in col else fill_within(order_id, c[role])
            batch.add("identifiers", identifier_rows(ctx, p, id_type=id_type, values=values,
                                                     field_name=header, **common))
        marketing = yes_no(fill_within(order_id, c["accepts_marketing"]))
        batch.add("consents", consent_rows(account_key, source, "marketing_email", marketing, created, lines,
                                           str(raw.path), p))
        return batch


def _email_key(ctx: ReadContext, value: str) -> str | None:
    """The account key of a customer known by e-mail; none for a placeholder such as test@test.com,
    which would otherwise make one account of every stranger who typed it (the order stays a guest)."""
    try:
        email = normalize_email(value)
    except InvalidIdentifier:
        return None
    return None if placeholder_reason("email", email) else "h:" + ctx.hasher.hash("email", email)[:32]


def _masked_email(value: str) -> str | None:
    return mask_value(value.strip().lower(), "email")
