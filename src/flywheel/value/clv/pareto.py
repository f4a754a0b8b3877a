"""Pareto/NBD (Schmittlein, Morrison & Colombo 1987), in the form of Fader, Hardie & Lee's 2005 note.

Purchase rates are gamma(r, alpha), lifetimes exponential with gamma(s, beta) death rates. The
likelihood needs Gauss hypergeometric functions whose textbook form overflows once frequency reaches
the thousands; here each one is rewritten (Euler's transformation) into a bounded 2F1(1, b; c; z)
times powers that are taken in logs, and the subtraction of the two 2F1 terms is arranged so that
only non-negative quantities are ever added.
"""

from __future__ import annotations

import numpy as np
from scipy.special import gammaln, hyp2f1

from flywheel.value.clv.purchase_model import PurchaseModel


def _log_tail(params, x, t) -> np.ndarray:
    """log( s * integral_t^inf (alpha+u)^-(r+x) (beta+u)^-(s+1) du ), the chance of dying after t.

    Closed form: (s/m) (alpha+t)^-(r+x) (beta+t)^-s 2F1(1, r+x; m+1; (alpha-beta)/(alpha+t)) when
    alpha >= beta, and the mirror image with the roles of the two rates swapped otherwise; in both the
    2F1 lies between 1 and m/s (or grows only polynomially), so it never overflows.
    """
    r, alpha, s, beta = params
    m = r + s + x
    log_power = -(r + x) * np.log(alpha + t) - s * np.log(beta + t)
    if alpha >= beta:
        z = (alpha - beta) / (alpha + t)
        log_f = np.log(hyp2f1(1.0, r + x, m + 1.0, z))
    else:
        z = (beta - alpha) / (beta + t)
        # (alpha+t)^(1-r-x) (beta+t)^-(s+1) = power * (alpha+t)/(beta+t) = power * (1 - z)
        log_f = np.log(hyp2f1(1.0, s + 1.0, m + 1.0, z)) + np.log1p(-z)
    return np.log(s) - np.log(m) + log_power + log_f


def _log_parts(params, x, t_x, big_t) -> tuple[np.ndarray, np.ndarray]:
    """(log of the alive-at-T term, log of the full likelihood), both without the gamma head."""
    r, alpha, s, beta = params
    log_alive = -(r + x) * np.log(alpha + big_t) - s * np.log(beta + big_t)
    # alive-at-T term minus the tail after T, i.e. 1 - exp(log_ratio) with log_ratio <= 0 by construction.
    log_ratio = np.minimum(_log_tail(params, x, big_t) - log_alive, 0.0)
    with np.errstate(divide="ignore"):
        log_until_t = log_alive + np.log(-np.expm1(log_ratio))
    log_total = np.logaddexp(log_until_t, _log_tail(params, x, t_x))
    return log_alive, log_total


class ParetoNBDModel(PurchaseModel):
    """Pareto/NBD: `ParetoNBDModel().fit(frequency, recency, T).params_` -> {r, alpha, s, beta}.

    Example: on the CDNOW 39-week cohort the log-likelihood reaches -9594.98, as published.
    """

    param_names = ("r", "alpha", "s", "beta")

    def _row_log_likelihood(self, params, x, t_x, big_t):
        r, alpha, s, beta = params
        head = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
        return head + _log_parts(params, x, t_x, big_t)[1]

    def _log_probability_alive(self, params, x, t_x, big_t):
        log_alive, log_total = _log_parts(params, x, t_x, big_t)
        return np.minimum(log_alive - log_total, 0.0)

    def _conditional_purchases(self, params, t, x, t_x, big_t):
        r, alpha, s, beta = params
        alive = np.exp(self._log_probability_alive(params, x, t_x, big_t))
        span = np.log1p(t / (beta + big_t))
        # (1 - ((beta+T)/(beta+T+t))^(s-1)) / (s-1), with its limit `span` at s = 1
        if abs(s - 1) < 1e-8:
            growth = span
        else:
            growth = -np.expm1(-(s - 1) * span) / (s - 1)
        return alive * (r + x) * (beta + big_t) / (alpha + big_t) * growth

    def _start(self, x, t_x, big_t, *, weights):
        mean_rate = max(float(weights @ x) / float(weights @ np.maximum(big_t, 1e-9)), 1e-3)
        scale = float(weights @ big_t) / float(weights.sum())
        return np.array([1.0, 1.0 / mean_rate, 1.0, max(scale, 1e-3)])
