"""Render `docs/traits.md` from the catalog and the trait modules, so the list cannot drift.

`python -m flywheel.value.traits.docs > docs/traits.md`
"""

from __future__ import annotations

from flywheel.schema.docs import LEVELS
from flywheel.value.traits import lifecycle
from flywheel.value.traits.base import GMV_STATUSES
from flywheel.value.traits.build import FAMILIES, trait_fields, units

TITLES = {"purchases": "Purchases", "products": "Products", "behaviour": "Behaviour and campaigns",
          "social": "Fission and content", "profile": "Profile, WeCom and consent",
          "lifecycle": "Activity and lifecycle"}


def render() -> str:
    fields = {f.name: f for f in trait_fields()}
    unit = units()
    out = [
        "# Traits (标签)",
        "",
        "Generated from `src/flywheel/schema/catalog.py` (table `person_traits`) and `src/flywheel/value/traits/`",
        "by `python -m flywheel.value.traits.docs > docs/traits.md`; do not edit by hand.",
        "",
        f"{len(fields)} per-person traits, computed in the warehouse as Ibis expressions (DuckDB and Spark alike) by",
        "`flywheel value score`, which stores them in `person_traits`. Conventions:",
        "",
        "- **Person**: accounts are grouped by `person_accounts` (identity resolution); an account it has not",
        "  placed is its own person `a` + 16 hex digits (a keyed hash of the account, never its key).",
        f"- **Purchase / GMV order**: an order with status {', '.join(GMV_STATUSES)}. Money is in yuan (CNY).",
        "- **As of**: every trait describes the warehouse at one instant (`--as-of`, default the latest order",
        "  or event). Rows after it are ignored; a window of N days is (as-of − N days, as-of]; days are",
        "  counted in whole seconds / 86,400.",
        "- **Merchant calendar**: calendar days, weekdays and hours use the merchant time zone",
        "  (`FLYWHEEL_TIMEZONE`, default Asia/Shanghai) at its UTC offset on the as-of date.",
        "- **Unknown vs zero**: counts and sums are 0 for a person without rows; averages, shares and times",
        "  are empty (null) when there is nothing to average.",
        "- **Lifecycle stage**, first match: `prospect` no purchase; `new` first purchase within "
        f"{lifecycle.NEW_DAYS} days; `won-back` bought within {lifecycle.ACTIVE_DAYS} days after a gap of more than "
        f"{lifecycle.WON_BACK_GAP_DAYS} days; `active` bought within {lifecycle.ACTIVE_DAYS} days; `at-risk` "
        f"last purchase {lifecycle.ACTIVE_DAYS}–{lifecycle.AT_RISK_DAYS} days ago; `lapsed` longer ago.",
        "",
        "Sensitivity levels: " + "; ".join(LEVELS.values()) + ".",
        "",
    ]
    for module in (*FAMILIES, lifecycle):
        family = module.__name__.rsplit(".", 1)[-1]
        out += [f"## {TITLES[family]}", "", "| trait | type | unit | level | definition |", "|---|---|---|---|---|"]
        for name in module.UNITS:
            f = fields[name]
            out.append(f"| `{name}` | `{f.type}` | {unit[name]} | L{f.level} | {f.description.replace('|', '/')} |")
        out.append("")
    return "\n".join(out + _scores())


def _scores() -> list[str]:
    """How `flywheel value score` turns traits into tiers, segments and value (defaults from the code)."""
    from flywheel.schema import table
    from flywheel.value.rfm import SEGMENTS
    from flywheel.value.tiers import load_tiers
    from flywheel.value.worth import ValueSettings

    v = ValueSettings()
    out = ["# Tiers, segments and value", "",
           "`flywheel value score` reads the traits above and writes one row per person and run to "
           "`person_scores` (kept across runs), the run itself to `value_runs`, and CLV risk alerts to "
           "`value_alerts`.", "",
           "## Default tiers (`src/flywheel/value/tiers.yaml`)", "",
           "The first tier whose conditions all hold wins; replace the file with `--tiers FILE`.", "",
           "| tier | conditions | meaning |", "|---|---|---|"]
    for tier in load_tiers().tiers:
        rule = "everyone else" if tier.catch_all else " and ".join(f"`{c.trait} {c.op} {c.value}`"
                                                                 for c in tier.conditions)
        out.append(f"| {tier.name} | {rule} | {tier.description} |")
    out += ["", "## RFM segments", "",
            "R, F and M are quintiles 1–5 among buyers of `recency_days` (lower is better), `purchase_days` "
            "and `net_value`; ties share a quintile.", "", "| segment | who |", "|---|---|"]
    out += [f"| {name} | {who} |" for name, who in SEGMENTS]
    weights = ", ".join(f"{name} {w:g}" for name, w in zip(("current", "potential", "social", "content"),
                                                          v.weights))
    out += ["", "## Scores per person (`person_scores`)", "", "| score | meaning |", "|---|---|"]
    for f in table("person_scores").fields:
        if f.name not in ("run_id", "person_id", "as_of"):
            out.append(f"| `{f.name}` | {f.description} |")
    out += ["", f"Default weights of `value_score`: {weights} (`--weights`). `high_potential_low_activity`: "
            f"potential value in the top {v.high_potential_share:.0%} of buyers and no activity for more than "
            f"{v.quiet_days:g} days. KOC: at least {v.koc_invites} accepted invites, {v.koc_converted} invitees "
            f"who bought, or {v.koc_media_reviews} reviews with media. A risk alert is raised when potential "
            "value falls by more than 20% since the previous run (`flywheel value alerts`).", ""]
    return out


if __name__ == "__main__":
    print(render())
