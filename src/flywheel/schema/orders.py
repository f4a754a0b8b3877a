"""The order-status vocabulary: the statuses `orders.status` holds and which of them are GMV.

Adapters map each platform's words onto `ORDER_STATUSES`; collection summaries, traits and reports
count GMV through `GMV_STATUSES`. One definition in the shared core, so the capabilities that write
orders and those that value them cannot disagree on what was sold.
"""

ORDER_STATUSES = ("pending", "paid", "shipped", "completed", "cancelled", "refunded", "partially_refunded")

GMV_STATUSES = ("paid", "shipped", "completed", "refunded", "partially_refunded")
"""Statuses whose paid amount counts as GMV (PRODUCT.md glossary: GMV = paid amount): paid for, whether
or not it was later refunded (net value subtracts refunds)."""
