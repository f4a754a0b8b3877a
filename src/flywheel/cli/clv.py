"""`flywheel clv …`: read a summary or transaction file, fit a model, print the parameters."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from flywheel.cli.common import Table, out, state
from flywheel.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

clv_app = typer.Typer(help="Customer lifetime value models (BG/NBD, Pareto/NBD, MBG/NBD, Gamma-Gamma).",
                      no_args_is_help=True)

MODELS = ("bgnbd", "pareto", "mbgnbd", "gamma-gamma")


def _model(name: str):
    from flywheel.value.clv import BetaGeoModel, GammaGammaModel, ModifiedBetaGeoModel, ParetoNBDModel

    return {"bgnbd": BetaGeoModel, "pareto": ParetoNBDModel, "mbgnbd": ModifiedBetaGeoModel,
            "gamma-gamma": GammaGammaModel}[name]


class ClvInputError(InputError):
    """A `flywheel clv` option or file that cannot be used."""


def _read_csv(path: Path) -> "pd.DataFrame":
    import pandas as pd

    if not path.is_file():
        raise ClvInputError(f"{path}: no such file")
    try:
        return pd.read_csv(path)
    except (ValueError, pd.errors.ParserError) as exc:
        raise ClvInputError(f"{path}: not a readable CSV ({exc})") from exc


def _summary(summary: Path | None, transactions: Path | None, customer_col: str | None,
             date_col: str | None, amount_col: str | None, period: str,
             calibration_end: str | None) -> "pd.DataFrame":
    from flywheel.value.clv import summary_from_transactions

    if (summary is None) == (transactions is None):
        raise ClvInputError("give exactly one of --summary FILE or --transactions FILE")
    if summary is not None:
        frame = _read_csv(summary)
        missing = [c for c in ("frequency", "recency", "T") if c not in frame.columns]
        if missing:
            raise ClvInputError(f"{summary}: missing column(s) {', '.join(missing)}")
        return frame
    if not customer_col or not date_col:
        raise ClvInputError("--transactions needs --customer-col and --date-col")
    return summary_from_transactions(_read_csv(transactions), customer_col, date_col, amount_col,
                                     period=period, calibration_end=calibration_end)


@clv_app.command("fit")
def fit(
    ctx: typer.Context,
    model: Annotated[str, typer.Option("--model", help="bgnbd, pareto, mbgnbd or gamma-gamma.")],
    summary: Annotated[Path | None, typer.Option("--summary", help="CSV with frequency,recency,T[,monetary_value].")] = None,
    transactions: Annotated[Path | None, typer.Option("--transactions", help="CSV with one row per purchase.")] = None,
    customer_col: Annotated[str | None, typer.Option("--customer-col", help="Customer id column.")] = None,
    date_col: Annotated[str | None, typer.Option("--date-col", help="Purchase date column.")] = None,
    amount_col: Annotated[str | None, typer.Option("--amount-col", help="Purchase amount column.")] = None,
    period: Annotated[str, typer.Option("--period", help="day or week.")] = "day",
    calibration_end: Annotated[str | None, typer.Option("--calibration-end", help="Last calibration date.")] = None,
) -> None:
    """Fit one model by maximum likelihood and print its parameters and log-likelihood."""
    if model not in MODELS:
        raise ClvInputError(f"--model must be one of {', '.join(MODELS)}. Got {model!r}.")
    as_json = state(ctx).json
    frame = _summary(summary, transactions, customer_col, date_col, amount_col, period, calibration_end)
    started = time.perf_counter()
    if model == "gamma-gamma":
        if "monetary_value" not in frame.columns:
            raise ClvInputError("gamma-gamma needs monetary_value (a summary column, or --amount-col)")
        repeat = frame[(frame["frequency"] > 0) & (frame["monetary_value"] > 0)]
        fitted = _model(model)().fit(repeat["frequency"], repeat["monetary_value"])
    else:
        fitted = _model(model)().fit(frame["frequency"], frame["recency"], frame["T"])
    seconds = time.perf_counter() - started
    payload = {"model": model, "params": fitted.params_, "log_likelihood": fitted.log_likelihood_,
               "n_customers": fitted.n_customers_, "seconds": round(seconds, 4)}
    if as_json:
        sys.stdout.write(json.dumps(payload) + "\n")
        return
    table = Table(title=f"{model}: {fitted.n_customers_} customers, LL {fitted.log_likelihood_:.2f}, {seconds:.2f} s")
    table.add_column("parameter")
    table.add_column("estimate", justify="right")
    table.add_column("std. error", justify="right")
    for name, value in fitted.params_.items():
        table.add_row(name, f"{value:.5g}", f"{fitted.standard_errors_[name]:.3g}")
    out.print(table)


@clv_app.command("evaluate")
def evaluate(
    ctx: typer.Context,
    transactions: Annotated[Path, typer.Option("--transactions", help="CSV with one row per purchase.")],
    customer_col: Annotated[str, typer.Option("--customer-col", help="Customer id column.")],
    date_col: Annotated[str, typer.Option("--date-col", help="Purchase date column.")],
    calibration_end: Annotated[str, typer.Option("--calibration-end", help="Last calibration date.")],
    observation_end: Annotated[str | None, typer.Option("--observation-end", help="Last holdout date (default: last purchase).")] = None,
    amount_col: Annotated[str | None, typer.Option("--amount-col", help="Purchase amount column.")] = None,
    period: Annotated[str, typer.Option("--period", help="day or week.")] = "day",
) -> None:
    """Fit BG/NBD, MBG/NBD and Pareto/NBD on the calibration period, score them on the holdout, pick one."""
    from flywheel.value.clv import evaluate_transactions

    as_json = state(ctx).json
    report = evaluate_transactions(_read_csv(transactions), customer_col, date_col, calibration_end,
                                   observation_end, period=period, amount_col=amount_col)
    if as_json:
        sys.stdout.write(json.dumps(report) + "\n")
        return
    console = out
    models = Table(title=f"Holdout after {report['calibration_end']}: {report['holdout_periods']:g} {period}s; "
                         f"best {report['best']}")
    for column in ("model", "log-likelihood", "predicted", "actual", "rel. error", "MAE by frequency"):
        models.add_column(column, justify="left" if column == "model" else "right")
    for name, row in report["models"].items():
        rel = row["relative_error_total"]
        models.add_row(name, f"{row['log_likelihood']:.2f}", f"{row['predicted_total']:.1f}",
                       f"{row['actual_total']:.0f}", "n/a" if rel is None else f"{rel:+.1%}",
                       f"{row['mae_by_frequency']:.3f}")
    console.print(models)
    buckets = Table(title="Mean holdout purchases by calibration frequency")
    buckets.add_column("frequency")
    buckets.add_column("customers", justify="right")
    buckets.add_column("actual", justify="right")
    for name in report["models"]:
        buckets.add_column(name, justify="right")
    for row in report["by_frequency"]:
        buckets.add_row(row["frequency"], str(row["n_customers"]), f"{row['actual_mean']:.3f}",
                        *(f"{v:.3f}" for v in row["predicted_mean"].values()))
    console.print(buckets)
