"""Product traits: what the person buys, from the lines of their GMV orders and the catalogue."""

from __future__ import annotations

import ibis

from flywheel.value.traits.base import TraitContext, count_if, mode, ratio, yuan
from flywheel.value.traits.purchases import purchases

UNITS = {
    "items_bought": "units", "order_lines": "lines", "items_per_order": "units per order",
    "distinct_products": "products", "avg_item_price": "CNY", "refunded_lines": "lines",
    "top_product_id": "product id", "top_product_title": "text", "top_product_share": "ratio",
    "top_category": "category", "distinct_categories": "categories",
}
ZERO = {"items_bought", "order_lines", "distinct_products", "refunded_lines", "distinct_categories"}


def tables(ctx: TraitContext) -> list[ibis.Table]:
    g = purchases(ctx).select("person_id", "source", "order_id")
    items = ctx.wh.table("order_items")
    lines = items.join(g, ["source", "order_id"])
    catalogue = ctx.wh.table("products").select("product_id", catalogue_title="title", category="category")
    lines = lines.left_join(catalogue, "product_id")
    lines = lines.select("person_id", "order_id", "source", "product_id", "title", "catalogue_title", "category",
                         "refunded", quantity=lines.quantity.fill_null(1), paid=yuan(lines.paid_cents.fill_null(0)))
    totals = lines.group_by("person_id").agg(
        items_bought=lines.quantity.sum(),
        order_lines=lines.count(),
        orders_with_lines=(lines.source + ibis.literal("\x1f") + lines.order_id).nunique(),
        distinct_products=lines.product_id.nunique(),
        line_paid=lines.paid.sum(),
        refunded_lines=count_if(lines.refunded.fill_null(False)),
        distinct_categories=lines.category.nunique(),
    )
    totals = totals.mutate(items_per_order=ratio(totals.items_bought, totals.orders_with_lines),
                           avg_item_price=ratio(totals.line_paid, totals.items_bought)
                           ).drop("orders_with_lines", "line_paid")
    titles = lines.group_by("product_id").agg(line_title=lines.title.min(), known=lines.catalogue_title.min())
    top = mode(lines, "product_id", "top_product_id", "top_product_share")
    top = top.left_join(titles, top.top_product_id == titles.product_id)
    top = top.select("person_id", "top_product_id", "top_product_share",
                     top_product_title=ibis.coalesce(top.known, top.line_title))
    return [totals, top, mode(lines, "category", "top_category")]
