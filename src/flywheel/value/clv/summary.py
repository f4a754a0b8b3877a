"""Turn a transaction log into the (frequency, recency, T, monetary_value) summary the models read.

The convention of the published analyses: purchases on the same calendar day count as one
transaction; frequency is the number of repeat purchase days; recency and T are whole days (last
minus first purchase day, calibration end minus first purchase day) divided by the period's days.
"""

from __future__ import annotations

import pandas as pd

from flywheel.errors import InputError

PERIOD_DAYS = {"day": 1, "week": 7}


class SummaryError(InputError):
    """A transaction table or option that cannot be summarised."""


def _frame(transactions, customer_col: str, date_col: str, amount_col: str | None) -> pd.DataFrame:
    if not isinstance(transactions, pd.DataFrame):
        if hasattr(transactions, "to_pandas"):
            transactions = transactions.to_pandas()
        else:
            raise SummaryError("transactions must be a pandas DataFrame or an Arrow table")
    needed = [customer_col, date_col] + ([amount_col] if amount_col else [])
    missing = [c for c in needed if c not in transactions.columns]
    if missing:
        raise SummaryError(f"transactions lack column(s) {', '.join(missing)}; "
                           f"found {', '.join(map(str, transactions.columns))}")
    frame = pd.DataFrame({"customer": transactions[customer_col].to_numpy()})
    try:
        raw = transactions[date_col]
        dates = pd.to_datetime(raw, format="ISO8601") if raw.dtype == object else pd.to_datetime(raw)
    except (ValueError, TypeError) as exc:
        raise SummaryError(f"column {date_col} holds values that are not dates: {exc}") from exc
    if getattr(dates.dt, "tz", None) is not None:
        dates = dates.dt.tz_localize(None)
    if dates.isna().any():
        raise SummaryError(f"column {date_col} has {int(dates.isna().sum())} empty dates")
    frame["day"] = dates.dt.normalize().to_numpy()
    if amount_col:
        amount = pd.to_numeric(transactions[amount_col], errors="coerce")
        if amount.isna().any():
            raise SummaryError(f"column {amount_col} has {int(amount.isna().sum())} non-numeric amounts")
        frame["amount"] = amount.to_numpy(dtype=float)
    return frame


def _day(value, name: str) -> pd.Timestamp:
    try:
        return pd.Timestamp(value).normalize()
    except (ValueError, TypeError) as exc:
        raise SummaryError(f"{name} is not a date: {value!r}") from exc


def summary_from_transactions(transactions, customer_col: str, date_col: str, amount_col: str | None = None,
                              period: str = "day", calibration_end=None, observation_end=None) -> pd.DataFrame:
    """One row per customer (index = customer id): frequency, recency, T[, monetary_value].

    Only purchases up to `calibration_end` (default: the last purchase day) are used, and only
    customers whose first purchase is on or before it appear. `observation_end` is accepted for
    symmetry with `calibration_and_holdout` and must not precede `calibration_end`.
    """
    if period not in PERIOD_DAYS:
        raise SummaryError(f"period must be one of {', '.join(PERIOD_DAYS)}. Got {period!r}.")
    frame = _frame(transactions, customer_col, date_col, amount_col)
    end = _day(calibration_end, "calibration_end") if calibration_end is not None else frame["day"].max()
    if observation_end is not None and _day(observation_end, "observation_end") < end:
        raise SummaryError("observation_end must not be before calibration_end")
    frame = frame[frame["day"] <= end]
    if frame.empty:
        raise SummaryError("no transactions on or before calibration_end")
    agg = {"amount": ("amount", "sum")} if amount_col else {}
    days = frame.groupby(["customer", "day"], sort=True).agg(**agg) if agg else \
        frame[["customer", "day"]].drop_duplicates().set_index(["customer", "day"]).sort_index()
    days = days.reset_index()
    per = PERIOD_DAYS[period]
    grouped = days.groupby("customer", sort=True)
    first, last, count = grouped["day"].min(), grouped["day"].max(), grouped["day"].size()
    summary = pd.DataFrame({
        "frequency": (count - 1).astype(int),
        "recency": (last - first).dt.days / per,
        "T": (end - first).dt.days / per,
    })
    if amount_col:
        repeat = days[days["day"] > days["customer"].map(first)]
        mean_repeat = repeat.groupby("customer")["amount"].mean()
        summary["monetary_value"] = mean_repeat.reindex(summary.index).fillna(0.0)
    summary.index.name = customer_col
    return summary


def calibration_and_holdout(transactions, customer_col: str, date_col: str, calibration_end, observation_end=None,
                            amount_col: str | None = None, period: str = "day") -> pd.DataFrame:
    """Calibration summary plus `frequency_holdout` (purchase days after calibration) and `duration_holdout`."""
    end = _day(calibration_end, "calibration_end")
    summary = summary_from_transactions(transactions, customer_col, date_col, amount_col, period, end)
    frame = _frame(transactions, customer_col, date_col, None)
    stop = _day(observation_end, "observation_end") if observation_end is not None else frame["day"].max()
    if stop < end:
        raise SummaryError("observation_end must not be before calibration_end")
    later = frame[(frame["day"] > end) & (frame["day"] <= stop)].drop_duplicates()
    holdout = later.groupby("customer").size()
    summary["frequency_holdout"] = holdout.reindex(summary.index).fillna(0).astype(int).to_numpy()
    summary["duration_holdout"] = float((stop - end).days) / PERIOD_DAYS[period]
    return summary
