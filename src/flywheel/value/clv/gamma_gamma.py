"""Gamma-Gamma spend model (Fader, Hardie & Lee 2005) and discounted CLV on top of a purchase model.

A customer's transaction values are gamma(p, nu) with a gamma(q, v) spread of nu across customers;
the mean of x repeat-purchase values then has a closed-form density, fitted here by maximum
likelihood. The likelihood is the density of the observed mean spend m_x (Fader & Hardie's note,
including its Jacobian terms), which is what reproduces the published LL of -4055.92 on CDNOW.
"""

from __future__ import annotations

import numpy as np
from scipy.special import digamma, gammaln

from flywheel.value.clv.base import BTYDModel, DataError, as_column, same_length
from flywheel.value.clv.purchase_model import PurchaseModel


def spend_columns(frequency, monetary_value) -> tuple[np.ndarray, np.ndarray]:
    """Validated (x, m_x); spend is only defined for customers with repeat purchases and a positive mean."""
    x = as_column("frequency", frequency, integer=True)
    m = as_column("monetary_value", monetary_value)
    same_length(frequency=x, monetary_value=m)
    if np.any(x == 0) or np.any(m == 0):
        raise DataError("Gamma-Gamma needs frequency > 0 and monetary_value > 0 for every customer "
                        "(keep only repeat customers)")
    return x, m


class GammaGammaModel(BTYDModel):
    """Gamma-Gamma: `GammaGammaModel().fit(frequency, monetary_value).params_` -> {p, q, v}."""

    param_names = ("p", "q", "v")

    def fit(self, frequency, monetary_value, weights=None):
        """Maximum-likelihood fit on repeat customers; identical (x, m_x) rows are grouped first."""
        self._check_parameters()
        x, m = spend_columns(frequency, monetary_value)
        self._maximise([x, m], self._weights(weights, len(x)))
        return self

    def _row_log_likelihood(self, params, x, m):
        p, q, v = params
        px = p * x
        return (gammaln(px + q) - gammaln(px) - gammaln(q) + q * np.log(v)
                + (px - 1) * np.log(m) + px * np.log(x) - (px + q) * np.log(v + m * x))

    def _likelihood_with_gradient(self, x, m):
        """Exact per-row LL and gradient in (p, q, v).

        The gamma and digamma terms depend on the frequency only, so they are computed once per
        distinct frequency; the logs of the data once per fit.
        """
        ux, ix = np.unique(x, return_inverse=True)
        ix = ix.reshape(-1)
        log_m, log_x, mx = np.log(m), np.log(x), m * x
        data_term = log_m + log_x

        def evaluate(params, weights=None):
            p, q, v = params
            px = p * ux
            log_vmx = np.log(v + mx)
            psi_sum, psi_px = digamma(px + q), digamma(px)
            per_x = gammaln(px + q) - gammaln(px) - gammaln(q) + q * np.log(v)
            ll = per_x[ix] + p * x * data_term - log_m - (p * x + q) * log_vmx
            grad = np.vstack([x * ((psi_sum - psi_px)[ix] + data_term - log_vmx),
                              (psi_sum - digamma(q))[ix] + np.log(v) - log_vmx,
                              q / v - (p * x + q) / (v + mx)])
            return ll, grad if weights is None else grad @ weights

        return evaluate

    def _start(self, x, m, *, weights):
        mean = float(weights @ m) / float(weights.sum())
        return np.array([1.0, 2.0, max(mean, 1e-3)])

    def predict_spend(self, frequency, monetary_value) -> np.ndarray:
        """Expected value of a customer's future transaction, shrunk from m_x towards the population.

        Customers without repeat purchases get the population mean p v / (q - 1).
        """
        p, q, v = self._param_array()
        x = as_column("frequency", frequency, integer=True)
        m = as_column("monetary_value", monetary_value)
        same_length(frequency=x, monetary_value=m)
        if q <= 1:
            raise DataError(f"expected spend is infinite when q ≤ 1 (fitted q = {q:.4g})")
        return (v + m * x) * p / (p * x + q - 1)

    def clv(self, transaction_model: PurchaseModel, frequency, recency, T, monetary_value,
            horizon_periods: int = 52, discount_rate_per_period: float = 0.0) -> np.ndarray:
        """Discounted value: sum over periods k = 1..H of E[purchases in k] x spend / (1 + d)^k."""
        if not isinstance(transaction_model, PurchaseModel):
            raise DataError("transaction_model must be a fitted BetaGeoModel, ModifiedBetaGeoModel or ParetoNBDModel")
        if int(horizon_periods) != horizon_periods or horizon_periods < 1:
            raise DataError(f"horizon_periods must be a whole number ≥ 1. Got {horizon_periods!r}.")
        if not (np.isfinite(discount_rate_per_period) and discount_rate_per_period > -1):
            raise DataError(f"discount_rate_per_period must be > -1. Got {discount_rate_per_period!r}.")
        spend = self.predict_spend(frequency, monetary_value)
        per_period = transaction_model.expected_purchases_by_period(int(horizon_periods), frequency, recency, T)
        discount = (1.0 + discount_rate_per_period) ** -np.arange(1, int(horizon_periods) + 1)
        return (per_period @ discount) * spend
