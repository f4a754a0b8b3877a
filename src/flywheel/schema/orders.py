"""Order statuses: the one definition of which orders count as GMV (PRODUCT.md: GMV = paid amount)."""

GMV_STATUSES = ("paid", "shipped", "completed", "refunded", "partially_refunded")
