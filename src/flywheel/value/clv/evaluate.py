"""Calibration / holdout comparison of the purchase-count models, and the choice of one.

Each model is fitted on the calibration period and asked how many purchases every customer makes in
the holdout; the answers are compared with what happened, in total and as the mean per calibration
frequency 0, 1, …, 7+ (the conditional-expectation tracking plot of the published analyses). The
model with the smallest mean absolute error over those buckets is picked.

Example:
    report = evaluate_holdout(calibration_and_holdout(tx, "id", "date", "1997-09-30", period="week"))
    report["best"]  # -> "bgnbd"
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from flywheel.value.clv.base import DataError
from flywheel.value.clv.beta_geo import BetaGeoModel, ModifiedBetaGeoModel
from flywheel.value.clv.pareto import ParetoNBDModel
from flywheel.value.clv.summary import calibration_and_holdout

log = logging.getLogger(__name__)

PURCHASE_MODELS = {"bgnbd": BetaGeoModel, "mbgnbd": ModifiedBetaGeoModel, "pareto": ParetoNBDModel}
HOLDOUT_COLUMNS = ("frequency", "recency", "T", "frequency_holdout", "duration_holdout")


def _buckets(frequency: np.ndarray, top: int) -> tuple[np.ndarray, list[str]]:
    labels = [str(k) for k in range(top)] + [f"{top}+"]
    return np.minimum(frequency, top).astype(int), labels


def evaluate_holdout(summary: pd.DataFrame, models=tuple(PURCHASE_MODELS), top_frequency: int = 7) -> dict:
    """Fit `models` on the calibration columns of `summary` and score them on `frequency_holdout`.

    `summary` is what `calibration_and_holdout` returns. The result has `holdout_periods`, per model
    `params`, `log_likelihood`, `predicted_total`, `actual_total`, `mae_by_frequency` and
    `relative_error_total`, the `best` model name and the `by_frequency` rows.
    """
    missing = [c for c in HOLDOUT_COLUMNS if c not in summary.columns]
    if missing:
        raise DataError(f"holdout summary lacks column(s) {', '.join(missing)}")
    unknown = [m for m in models if m not in PURCHASE_MODELS]
    if unknown or not models:
        raise DataError(f"models must be among {', '.join(PURCHASE_MODELS)}. Got {list(models)!r}.")
    if len(summary) == 0:
        raise DataError("no customers in the calibration period")
    x, t_x, big_t = (summary[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))
    actual = summary["frequency_holdout"].to_numpy(dtype=float)
    periods = float(summary["duration_holdout"].iloc[0])
    if periods <= 0:
        raise DataError("the holdout period is empty: observation_end must be after calibration_end")
    bucket, labels = _buckets(x, top_frequency)
    sizes = np.bincount(bucket, minlength=len(labels))
    present = sizes > 0
    actual_mean = np.bincount(bucket, weights=actual, minlength=len(labels)) / np.maximum(sizes, 1)

    report_models: dict[str, dict] = {}
    predicted_means: dict[str, np.ndarray] = {}
    for name in models:
        fitted = PURCHASE_MODELS[name]().fit(x, t_x, big_t)
        predicted = fitted.predict_purchases(periods, x, t_x, big_t)
        mean = np.bincount(bucket, weights=predicted, minlength=len(labels)) / np.maximum(sizes, 1)
        predicted_means[name] = mean
        total = float(predicted.sum())
        actual_total = float(actual.sum())
        report_models[name] = {
            "params": fitted.params_,
            "log_likelihood": fitted.log_likelihood_,
            "predicted_total": total,
            "actual_total": actual_total,
            "mae_by_frequency": float(np.mean(np.abs(mean - actual_mean)[present])),
            "relative_error_total": (total - actual_total) / actual_total if actual_total else None,
        }
        log.info("%s holdout: predicted %.1f, actual %.0f", name, total, actual_total)

    best = min(report_models, key=lambda m: (report_models[m]["mae_by_frequency"],
                                             abs(report_models[m]["predicted_total"]
                                                 - report_models[m]["actual_total"])))
    by_frequency = [
        {"frequency": labels[k], "n_customers": int(sizes[k]), "actual_mean": float(actual_mean[k]),
         "predicted_mean": {m: float(predicted_means[m][k]) for m in models}}
        for k in range(len(labels)) if present[k]
    ]
    return {"holdout_periods": periods, "models": report_models, "best": best, "by_frequency": by_frequency}


def evaluate_transactions(transactions, customer_col: str, date_col: str, calibration_end,
                          observation_end=None, period: str = "week", amount_col: str | None = None,
                          models=tuple(PURCHASE_MODELS)) -> dict:
    """Split a transaction log at `calibration_end`, then `evaluate_holdout`; adds `calibration_end`."""
    summary = calibration_and_holdout(transactions, customer_col, date_col, calibration_end, observation_end,
                                      amount_col=amount_col, period=period)
    report = evaluate_holdout(summary, models)
    return {"calibration_end": str(pd.Timestamp(calibration_end).date()), **report}
