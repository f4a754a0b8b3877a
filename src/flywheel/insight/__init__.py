"""Insight: the merchant's business metrics — overview, cohort retention, funnels — over tables the
pipeline pre-aggregates, so the console and the read API answer without scanning raw events
(docs/dashboard.md).

    build_rollups(wh)                                  # the pipeline's `insight` stage
    overview(wh, Period(start, end), sources=("tmall",))
    retention(wh, grain="month", basis="purchase")
    funnel(wh, ["Product Viewed", "Product Added", "Order Completed"], Period(start, end), window_days=14)
"""

from flywheel.lazy import lazy_exports

_EXPORTS = {
    "build_rollups": "flywheel.insight.rollups", "rollup_status": "flywheel.insight.rollups",
    "Period": "flywheel.insight.calendar", "overview": "flywheel.insight.headline",
    "retention": "flywheel.insight.cohorts", "funnel": "flywheel.insight.steps",
    "funnel_events": "flywheel.insight.steps", "value_summary": "flywheel.insight.valuation",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
