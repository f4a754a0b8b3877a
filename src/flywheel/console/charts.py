"""ECharts options for the console's charts, built on the server from the same view data the API
returns (the browser only draws). Options are plain JSON: no functions, so they pass a strict CSP."""

from __future__ import annotations

PALETTE = ["#2f6fde", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6", "#06b6d4", "#84cc16", "#ec4899"]


def _base(title: str | None = None) -> dict:
    option = {"color": PALETTE, "animation": False, "tooltip": {"trigger": "axis"},
              "grid": {"left": 60, "right": 24, "top": 40, "bottom": 40}}
    if title:
        option["title"] = {"text": title, "textStyle": {"fontSize": 13}}
    return option


def overview_series(series: list[dict], gmv: str, orders: str) -> dict:
    return _base() | {
        "legend": {"data": [gmv, orders], "top": 0},
        "xAxis": {"type": "category", "data": [s["period"] for s in series]},
        "yAxis": [{"type": "value", "name": "¥"}, {"type": "value", "name": orders}],
        "series": [
            {"name": gmv, "type": "bar", "data": [round(s["gmv_cents"] / 100, 2) for s in series]},
            {"name": orders, "type": "line", "yAxisIndex": 1, "data": [s["orders"] for s in series]},
        ],
    }


def by_source(rows: list[dict], label: str) -> dict:
    return _base() | {
        "tooltip": {"trigger": "item"},
        "series": [{"name": label, "type": "pie", "radius": ["40%", "70%"],
                    "data": [{"name": r["source"], "value": round(r["gmv_cents"] / 100, 2)} for r in rows
                             if r["gmv_cents"]]}],
    }


def retention_heatmap(result: dict, period_label: str) -> dict:
    cohorts = result["cohorts"]
    periods = result.get("periods", 0)
    data = []
    for y, c in enumerate(cohorts):
        for k, cell in enumerate(c["cells"]):
            if cell is not None:
                data.append([k, y, round(cell["rate"] * 100, 1)])
    return _base() | {
        "tooltip": {"position": "top"},
        "grid": {"left": 80, "right": 24, "top": 20, "bottom": 70},
        "xAxis": {"type": "category", "name": period_label, "data": [str(k) for k in range(periods + 1)],
                  "splitArea": {"show": True}},
        "yAxis": {"type": "category", "inverse": True, "data": [c["cohort"] for c in cohorts],
                  "splitArea": {"show": True}},
        "visualMap": {"min": 0, "max": 100, "calculable": True, "orient": "horizontal", "left": "center",
                      "bottom": 0, "inRange": {"color": ["#eef4ff", "#2f6fde"]}},
        "series": [{"type": "heatmap", "data": data, "label": {"show": True, "formatter": "{@[2]}%"}}],
    }


def funnel_bars(steps: list[dict], label: str) -> dict:
    return _base() | {
        "xAxis": {"type": "category", "data": [f"{s['step']}. {s['event']}" for s in steps]},
        "yAxis": {"type": "value"},
        "series": [{"name": label, "type": "bar", "data": [s["persons"] for s in steps],
                    "label": {"show": True, "position": "top"}}],
    }


def journey_groups(groups: dict, labels: dict[str, str]) -> dict:
    stages = ["entered", "sent", "converted"]
    names = [g for g in ("treatment", "holdout") if g in groups]
    return _base() | {
        "legend": {"data": [labels.get(g, g) for g in names], "top": 0},
        "xAxis": {"type": "category", "data": [labels.get(s, s) for s in stages]},
        "yAxis": {"type": "value"},
        "series": [{"name": labels.get(g, g), "type": "bar",
                    "data": [groups[g].get(s, 0) or 0 for s in stages]} for g in names],
    }


def credits_by_model(credits: list[dict], models: list[str]) -> dict:
    channels = [c["channel"] for c in credits]
    return _base() | {
        "legend": {"data": models, "top": 0, "type": "scroll"},
        "grid": {"left": 60, "right": 24, "top": 40, "bottom": 70},
        "xAxis": {"type": "category", "data": channels, "axisLabel": {"rotate": 30}},
        "yAxis": {"type": "value"},
        "series": [{"name": m, "type": "bar", "data": [round(c.get(m, {}).get("conversions", 0), 1) for c in credits]}
                   for m in models],
    }


def tier_shares(tiers: list[dict], persons_total: int, persons: str, gmv: str) -> dict:
    names = [t["tier"] for t in tiers]
    return _base() | {
        "legend": {"data": [persons, gmv], "top": 0},
        "xAxis": {"type": "category", "data": names},
        "yAxis": {"type": "value", "name": "%", "max": 100},
        "series": [{"name": persons, "type": "bar",
                    "data": [round(100 * t["persons"] / max(persons_total, 1), 1) for t in tiers]},
                   {"name": gmv, "type": "bar", "data": [round(100 * t.get("gmv_share", 0), 1) for t in tiers]}],
    }


def clv_bands(bands: list[dict], label: str) -> dict:
    return _base() | {
        "xAxis": {"type": "category", "name": "¥", "data": [b["band"] for b in bands]},
        "yAxis": {"type": "value"},
        "series": [{"name": label, "type": "bar", "data": [b["persons"] for b in bands]}],
    }


def alive_heatmap(alive: dict, recency: str, frequency: str) -> dict:
    xs, ys = alive["recency"], alive["frequency"]
    data = [[xs.index(c["recency"]), ys.index(c["frequency"]), round(c["p_alive"], 2)]
            for c in alive["cells"] if c["recency"] in xs and c["frequency"] in ys and c["p_alive"] is not None]
    return _base() | {
        "tooltip": {"position": "top"},
        "grid": {"left": 60, "right": 24, "top": 20, "bottom": 80},
        "xAxis": {"type": "category", "name": recency, "nameLocation": "middle", "nameGap": 28, "data": xs},
        "yAxis": {"type": "category", "name": frequency, "data": ys},
        "visualMap": {"min": 0, "max": 1, "orient": "horizontal", "left": "center", "bottom": 0,
                      "inRange": {"color": ["#ef4444", "#fde68a", "#10b981"]}},
        "series": [{"type": "heatmap", "data": data, "label": {"show": True}}],
    }


def concentration(rows: list[dict], label: str) -> dict:
    points = [[0, 0]] + [[round(100 * r["top_share"], 1), round(100 * r["gmv_share"], 1)] for r in rows]
    return _base() | {
        "tooltip": {"trigger": "item"},
        "xAxis": {"type": "value", "name": "%", "max": 100},
        "yAxis": {"type": "value", "name": "%", "max": 100},
        "series": [{"name": label, "type": "line", "data": points, "symbolSize": 6},
                   {"name": "=", "type": "line", "data": [[0, 0], [100, 100]], "lineStyle": {"type": "dashed"},
                    "symbol": "none"}],
    }


def level_members(levels: dict[str, int], label: str) -> dict:
    return _base() | {
        "xAxis": {"type": "category", "data": list(levels)},
        "yAxis": {"type": "value"},
        "series": [{"name": label, "type": "bar", "data": list(levels.values())}],
    }


def generations_k(rows: list[dict], members: str, k: str) -> dict:
    return _base() | {
        "legend": {"data": [members, "K"], "top": 0},
        "xAxis": {"type": "category", "data": [str(r["generation"]) for r in rows]},
        "yAxis": [{"type": "value", "name": members}, {"type": "value", "name": k}],
        "series": [{"name": members, "type": "bar", "data": [r["members"] for r in rows]},
                   {"name": "K", "type": "line", "yAxisIndex": 1, "data": [round(r["k"], 4) for r in rows]}],
    }


def referral_tree(edges: list[list[str]]) -> dict:
    """The top KOC's tree (positional labels) as an ECharts tree."""
    nodes: dict[str, dict] = {"KOC": {"name": "KOC", "children": []}}
    for parent, child in edges:
        nodes[child] = {"name": child, "children": []}
        nodes[parent]["children"].append(nodes[child])
    return _base() | {"series": [{"type": "tree", "data": [nodes["KOC"]], "top": "5%", "bottom": "5%",
                                  "left": "10%", "right": "15%", "symbolSize": 8, "initialTreeDepth": -1,
                                  "label": {"position": "left"}, "leaves": {"label": {"position": "right"}}}]}
