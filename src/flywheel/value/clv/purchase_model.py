"""The common face of the purchase-count models (BG/NBD, MBG/NBD, Pareto/NBD).

They all read the same three numbers per customer: frequency (repeat purchases), recency (time of the
last purchase since the first) and T (time from the first purchase to the end of calibration).
"""

from __future__ import annotations

import numpy as np

from flywheel.value.clv.base import BTYDModel, DataError, as_column, distinct_rows, same_length


def customer_columns(frequency, recency, T) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validated (x, t_x, T) columns; recency may not exceed T, and no purchase means recency 0."""
    x = as_column("frequency", frequency, integer=True)
    t_x = as_column("recency", recency)
    big_t = as_column("T", T)
    same_length(frequency=x, recency=t_x, T=big_t)
    if np.any(t_x > big_t * (1 + 1e-9) + 1e-12):
        raise DataError("recency must be ≤ T for every customer")
    if np.any((x == 0) & (t_x > 0)):
        raise DataError("recency must be 0 when frequency is 0")
    return x, np.minimum(t_x, big_t), big_t


def horizon(t) -> np.ndarray:
    """A non-negative future time span (scalar or per customer)."""
    return as_column("t", np.atleast_1d(t))


class PurchaseModel(BTYDModel):
    """Fit and shared predictions; subclasses supply the likelihood and conditional expectations."""

    def fit(self, frequency, recency, T, weights=None):
        """Maximum-likelihood fit; identical (frequency, recency, T) rows are grouped first."""
        self._check_parameters()
        x, t_x, big_t = customer_columns(frequency, recency, T)
        if len(x) == 0:
            raise DataError("at least one customer is needed to fit")
        self._maximise([x, t_x, big_t], self._weights(weights, len(x)))
        return self

    def _start(self, x, t_x, big_t, *, weights):
        return np.ones(len(self.param_names))

    def log_likelihood(self, frequency, recency, T) -> np.ndarray:
        """Per-customer log-likelihood under the fitted parameters."""
        params = self._param_array()
        return self._row_log_likelihood(params, *customer_columns(frequency, recency, T))

    def predict_purchases(self, t, frequency, recency, T) -> np.ndarray:
        """Expected number of purchases in the next `t` periods, per customer."""
        params = self._param_array()
        x, t_x, big_t = customer_columns(frequency, recency, T)
        return self._conditional_purchases(params, horizon(t), x, t_x, big_t)

    def probability_alive(self, frequency, recency, T) -> np.ndarray:
        """Probability that each customer is still active at the end of calibration."""
        params = self._param_array()
        return np.exp(self._log_probability_alive(params, *customer_columns(frequency, recency, T)))

    def probability_no_purchase(self, t, frequency, recency, T) -> np.ndarray:
        """Probability of no purchase in the next `t` periods: dropped out, or alive and quiet."""
        params = self._param_array()
        x, t_x, big_t = customer_columns(frequency, recency, T)
        alive = np.exp(self._log_probability_alive(params, x, t_x, big_t))
        return 1.0 - alive * (1.0 - self._quiet_if_alive(params, horizon(t), x, big_t))

    def expected_purchases_by_period(self, horizon_periods: int, frequency, recency, T) -> np.ndarray:
        """Expected purchases inside each future period 1..H, shape (customers, H); CLV sums these.

        The part that depends on the horizon is a function of (frequency, T) alone, so it is
        computed once per distinct pair and period.
        """
        params = self._param_array()
        x, t_x, big_t = customer_columns(frequency, recency, T)
        alive = np.exp(self._log_probability_alive(params, x, t_x, big_t))
        code, (px, pt) = distinct_rows(x, big_t)
        cumulative = np.column_stack([np.zeros_like(px)] + [
            self._purchases_if_alive(params, np.array([float(k)]), px, pt) for k in range(1, int(horizon_periods) + 1)])
        return alive[:, None] * np.diff(cumulative, axis=1)[code]

    def _conditional_purchases(self, params, t, x, t_x, big_t) -> np.ndarray:
        alive = np.exp(self._log_probability_alive(params, x, t_x, big_t))
        return alive * self._purchases_if_alive(params, t, x, big_t)

    def _purchases_if_alive(self, params, t, x, big_t) -> np.ndarray:
        """E[purchases in (T, T + t] | alive at T]: depends on frequency and T only."""
        raise NotImplementedError

    def _quiet_if_alive(self, params, t, x, big_t) -> np.ndarray:
        """P(no purchase in (T, T + t] | alive at T)."""
        raise NotImplementedError

    def _log_probability_alive(self, params, x, t_x, big_t) -> np.ndarray:
        raise NotImplementedError
