"""Risk alerts of the latest scoring run, as the acting role may see them: persons whose potential
value (CLV) fell by more than the alert threshold since the previous run (written by `score`)."""

from __future__ import annotations

import ibis

from flywheel.errors import InputError
from flywheel.privacy import Gate

ITEM_FIELDS = ("person_id", "previous_value", "potential_value", "drop_share", "churn_probability", "tier",
               "previous_run_id")


def risk_alerts(gate: Gate, limit: int | None = 50) -> dict:
    """`{run_id, alerts, shown, items, disclosure}`: the latest run's alerts, largest drop first, at most
    `limit` items (all when None). Needs `read.persons`."""
    gate.require("read.persons")
    if limit is not None and limit < 0:
        raise InputError(f"--limit must be 0 or more. Got {limit}.")
    wh = gate.warehouse
    runs = wh.table("value_runs")
    latest = wh.fetch(runs.order_by([ibis.desc("started_at"), ibis.desc("run_id")]).limit(1).select("run_id"))
    if latest.num_rows == 0:
        raise InputError("no scoring run yet: run `flywheel value score` first")
    run_id = latest.column("run_id")[0].as_py()
    alerts = wh.table("value_alerts")
    alerts = alerts.filter(alerts.run_id == run_id)
    total = int(alerts.count().execute())
    ordered = alerts.order_by([ibis.desc("drop_share"), "person_id"]).select(*ITEM_FIELDS)
    rows = wh.fetch(ordered if limit is None else ordered.limit(limit)).to_pylist()
    items = gate.disclosure.records("value_alerts", rows)
    return gate.disclosed({"run_id": run_id, "alerts": total, "shown": len(items), "items": items})
