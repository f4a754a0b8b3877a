"""`flywheel budget recommend`: parse, call the allocator, print."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Annotated, Optional

import typer

from flywheel.cli.common import Table, emit, out, state

budget_app = typer.Typer(help="Budget: tomorrow's split over campaigns or ad groups, by Thompson sampling.",
                         no_args_is_help=True)


def _read_arms(path: Path, kind: str):
    from flywheel.errors import InputError
    from flywheel.measure.budget import Arm

    try:
        handle = open(path, newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    with handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        need = ("arm", "clicks", "conversions") if kind == "rate" else ("arm", "roi")
        missing = [c for c in need if c not in header]
        if missing:
            raise InputError(f"{path}: no column {missing[0]!r}; --posterior {kind} reads {', '.join(need)} "
                             "(and optionally share)")
        rows: dict[str, dict] = {}
        for row in reader:
            name = (row.get("arm") or "").strip()
            if not name:
                raise InputError(f"{path}:{reader.line_num}: arm: empty")
            values = {}
            for col in [c for c in need[1:] + ("share",) if c in header and (row.get(c) or "").strip()]:
                try:
                    values[col] = float(row[col])
                except ValueError:
                    raise InputError(f"{path}:{reader.line_num}: {col}: not a number: {row[col]!r}") from None
            r = rows.setdefault(name, {"clicks": 0.0, "conversions": 0.0, "roi": [], "share": None})
            r["clicks"] += values.get("clicks", 0.0)
            r["conversions"] += values.get("conversions", 0.0)
            if "roi" in values:
                r["roi"].append(values["roi"])
            r["share"] = values.get("share", r["share"])
    return [Arm(n, r["clicks"], r["conversions"], tuple(r["roi"]), r["share"]) for n, r in rows.items()]


@budget_app.command("recommend")
def recommend_command(
    ctx: typer.Context,
    arms: Annotated[Optional[Path], typer.Option("--arms", help="CSV: arm, clicks, conversions (rate) or one row "
                                                 "per arm and day with arm, roi (roi); optional share (today's).")] = None,
    posterior: Annotated[str, typer.Option("--posterior", help="rate (Beta–Bernoulli on conversions per click) "
                                           "or roi (Normal on daily ROI).")] = "rate",
    floor: Annotated[float, typer.Option("--floor", help="The smallest share any arm keeps, so it stays measured.")]
        = 0.01,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the posterior draws (the same seed, the same split).")]
        = 0,
) -> None:
    """Tomorrow's budget shares, each with the numbers it rests on."""
    from flywheel.errors import InputError
    from flywheel.measure.budget import recommend

    if arms is None:
        raise InputError("--arms FILE.csv is needed for now: recommending from the warehouse's campaign spend and "
                         "attributed conversions waits for `flywheel attribution run` (docs/measurement.md)")
    result = recommend(_read_arms(arms, posterior), posterior, floor, seed)
    if state(ctx).json:
        emit(result)
        return
    t = Table(title=f"budget shares ({posterior}, floor {floor:.0%})")
    for c in ("arm", "share", "P(best)", "why"):
        t.add_column(c, justify="left" if c in ("arm", "why") else "right")
    for r in result["arms"]:
        t.add_row(r["arm"], f"{r['share']:.1%}", f"{r['p_best']:.1%}", r["why"])
    out.print(t)
