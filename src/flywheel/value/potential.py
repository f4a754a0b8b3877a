"""Potential value per person from the buy-till-you-die models of `flywheel.value.clv`.

Purchases are a person's GMV orders up to the as-of time on the merchant's calendar, summarised by
`summary_from_transactions` in weeks; MBG/NBD (or BG/NBD, Pareto/NBD) gives the probability alive and expected purchases,
Gamma-Gamma the expected spend per purchase day, and their product, discounted, is the CLV. A
calibration/holdout check (the last `holdout_weeks` held out) shows how well purchases are predicted.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from flywheel.errors import FlywheelError, InputError
from flywheel.value.clv import (
    BetaGeoModel,
    GammaGammaModel,
    ModifiedBetaGeoModel,
    ParetoNBDModel,
    calibration_and_holdout,
    evaluate_holdout,
    summary_from_transactions,
)

log = logging.getLogger(__name__)
PURCHASE_MODELS = {"mbgnbd": ModifiedBetaGeoModel, "bgnbd": BetaGeoModel, "pareto": ParetoNBDModel}
"""MBG/NBD is the default: unlike BG/NBD it lets a one-time buyer drop out, so P(alive) of someone who
bought once long ago falls below 1 — which is what a churn alert needs."""
MIN_BUYERS = 20
"""Below this many buyers the models are not fitted and potential value stays unknown."""


@dataclass
class Potential:
    """Per-person predictions (indexed by person_id) and what was fitted."""

    frame: pd.DataFrame
    models: dict = field(default_factory=dict)
    holdout: dict | None = None


def _local(transactions: pd.DataFrame, tz: str) -> pd.DataFrame:
    local = pd.to_datetime(transactions["created_at"], utc=True).dt.tz_convert(tz).dt.tz_localize(None)
    return pd.DataFrame({"person_id": transactions["person_id"].to_numpy(), "day": local,
                         "amount": transactions["paid"].to_numpy(dtype=float)})


def _holdout(tx: pd.DataFrame, end: pd.Timestamp, holdout_weeks: int, model: str) -> dict | None:
    """Fit the purchase model on all but the last `holdout_weeks` and compare predicted with actual purchases."""
    calibration_end = end - pd.Timedelta(weeks=holdout_weeks)
    if (tx["day"] <= calibration_end).sum() < MIN_BUYERS:
        return None
    try:
        summary = calibration_and_holdout(tx, "person_id", "day", calibration_end, end, period="week")
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            report = evaluate_holdout(summary, models=(model,))
    except (FlywheelError, ValueError, FloatingPointError) as exc:
        log.warning("calibration/holdout check skipped: %s", exc)
        return None
    report["calibration_end"] = str(calibration_end.date())
    return report


def predict_potential(transactions: pd.DataFrame, as_of: dt.datetime, tz: str, horizon_weeks: int = 52,
                      annual_discount: float = 0.10, holdout_weeks: int = 26, model: str = "mbgnbd") -> Potential:
    """`p_alive, churn_probability, expected_orders, potential_value` per buying person.

    `transactions` has person_id, created_at (UTC) and paid (yuan), one row per GMV order."""
    if model not in PURCHASE_MODELS:
        raise InputError(f"purchase model must be one of {', '.join(PURCHASE_MODELS)}. Got {model!r}.")
    columns = ["p_alive", "churn_probability", "expected_orders", "potential_value"]
    if transactions.empty:
        return Potential(pd.DataFrame(columns=columns))
    tx = _local(transactions, tz)
    end = pd.Timestamp(as_of.astimezone(dt.timezone.utc)).tz_convert(tz).tz_localize(None).normalize()
    summary = summary_from_transactions(tx, "person_id", "day", "amount", period="week", calibration_end=end)
    frame = pd.DataFrame(index=summary.index, columns=columns, dtype="float64")
    if len(summary) < MIN_BUYERS:
        return Potential(frame, {"skipped": f"fewer than {MIN_BUYERS} buyers"})
    x, t_x, big_t = (summary[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))
    try:
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            purchases = PURCHASE_MODELS[model]().fit(x, t_x, big_t)
            repeat = (x > 0) & (summary["monetary_value"].to_numpy() > 0)
            spend = GammaGammaModel().fit(x[repeat], summary["monetary_value"].to_numpy()[repeat])
            weekly = (1 + annual_discount) ** (1 / 52) - 1
            alive = purchases.probability_alive(x, t_x, big_t)
            frame["p_alive"] = alive
            frame["churn_probability"] = 1 - alive
            frame["expected_orders"] = purchases.predict_purchases(horizon_weeks, x, t_x, big_t)
            frame["potential_value"] = spend.clv(purchases, x, t_x, big_t, summary["monetary_value"].to_numpy(),
                                                 horizon_periods=horizon_weeks, discount_rate_per_period=weekly)
    except (FlywheelError, ValueError, FloatingPointError) as exc:
        log.warning("CLV models could not be fitted: %s", exc)
        return Potential(frame, {"error": str(exc)})
    for column in columns:
        frame[column] = frame[column].where(np.isfinite(frame[column].to_numpy(dtype=float)))
    models = {
        "period": "week", "horizon_weeks": horizon_weeks, "annual_discount": annual_discount,
        "purchase_model": model,
        "purchases": {"params": purchases.params_, "log_likelihood": purchases.log_likelihood_,
                  "n_customers": purchases.n_customers_},
        "gamma_gamma": {"params": spend.params_, "log_likelihood": spend.log_likelihood_,
                        "n_customers": spend.n_customers_},
    }
    return Potential(frame, models, _holdout(tx, end, holdout_weeks, model))
