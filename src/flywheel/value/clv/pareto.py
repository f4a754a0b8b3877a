"""Pareto/NBD (Schmittlein, Morrison & Colombo 1987), in the form of Fader, Hardie & Lee's 2005 note.

Purchase rates are gamma(r, alpha), lifetimes exponential with gamma(s, beta) death rates. The
likelihood needs Gauss hypergeometric functions whose textbook form overflows once frequency reaches
the thousands; here each one is rewritten (Euler's transformation) into a bounded 2F1(1, b; c; z)
times powers that are taken in logs, and the subtraction of the two 2F1 terms is arranged so that
only non-negative quantities are ever added. The 2F1 is summed by `hypergeometric.hyp2f1_b_c`
(scipy's hyp2f1 returns NaN for b in the hundreds with z near 1), which also gives the exact
gradient used by the fit.
"""

from __future__ import annotations

import numpy as np
from scipy.special import digamma, gammaln

from flywheel.value.clv.base import distinct_rows
from flywheel.value.clv.hypergeometric import hyp2f1_b_c
from flywheel.value.clv.purchase_model import PurchaseModel


def _log_tail(params, x, t) -> np.ndarray:
    """log( s * integral_t^inf (alpha+u)^-(r+x) (beta+u)^-(s+1) du ), the chance of dying after t.

    Closed form (`_log_integral`): (s/m) (alpha+t)^-(r+x) (beta+t)^-s 2F1(1, r+x; m+1; (alpha-beta)/(alpha+t))
    when alpha >= beta, and the mirror image with the roles of the two rates swapped otherwise; in
    both the 2F1 lies between 1 and m/s, so it never overflows.
    """
    r, alpha, s, beta = params
    return np.log(s) + _log_integral(r + x, s + 1.0, alpha + t, beta + t)


def _tail_with_gradient(params, x, t) -> tuple[np.ndarray, np.ndarray]:
    """`_log_tail` and its gradient in (r, alpha, s, beta), shape (4, rows), from one series pass.

    With rho = r + x and m = rho + s, both branches read log s - log m + powers + log F where
    F = 2F1(1, b; m + 1; z): b = rho when alpha >= beta, b = s + 1 otherwise; the chain rule runs
    through b, c = m + 1 and z.
    """
    r, alpha, s, beta = params
    rho = r + x
    m = rho + s
    log_a, log_b = np.log(alpha + t), np.log(beta + t)
    if alpha >= beta:
        z = (alpha - beta) / (alpha + t)
        f, f_b, f_c, f_z = hyp2f1_b_c(rho, m + 1.0, z)
        log_power = -rho * log_a - s * log_b
        d_z = np.vstack([np.zeros_like(z), (beta + t) / (alpha + t) ** 2, np.zeros_like(z), -1.0 / (alpha + t)])
        d_powers = np.vstack([-log_a, -rho / (alpha + t), -log_b, -s / (beta + t)])
        d_b = np.array([1.0, 0.0, 0.0, 0.0])[:, None]
    else:
        z = (beta - alpha) / (beta + t)
        f, f_b, f_c, f_z = hyp2f1_b_c(s + 1.0, m + 1.0, z)
        log_power = -(rho - 1.0) * log_a - (s + 1.0) * log_b  # the factor (1 - z) = (alpha+t)/(beta+t) folded in
        d_z = np.vstack([np.zeros_like(z), -1.0 / (beta + t), np.zeros_like(z), (alpha + t) / (beta + t) ** 2])
        d_powers = np.vstack([-log_a, -(rho - 1.0) / (alpha + t), -log_b, -(s + 1.0) / (beta + t)])
        d_b = np.array([0.0, 0.0, 1.0, 0.0])[:, None]
    log_tail = np.log(s) - np.log(m) + log_power + np.log(f)
    d_c = np.array([1.0, 0.0, 1.0, 0.0])[:, None]  # c = r + x + s + 1
    d_m = np.vstack([-1.0 / m, np.zeros_like(m), 1.0 / s - 1.0 / m, np.zeros_like(m)])
    grad = d_m + d_powers + (d_b * f_b + d_c * f_c + d_z * f_z) / f
    return log_tail, grad


def _log_integral(p, q, big_a, big_b) -> np.ndarray:
    """log of the integral over u > 0 of (A+u)^-p (B+u)^-q, for p + q > 1, elementwise.

    1/(p+q-1) A^-p B^-(q-1) 2F1(1, p; p+q; (A-B)/A) when A >= B, and the mirror image otherwise.
    """
    p, q, big_a, big_b = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (p, q, big_a, big_b)))
    first = big_a >= big_b
    lead, other = np.where(first, p, q), np.where(first, q, p)
    high, low = np.where(first, big_a, big_b), np.where(first, big_b, big_a)
    f = hyp2f1_b_c(lead, p + q, (high - low) / high)[0]
    return -np.log(p + q - 1) - lead * np.log(high) - (other - 1) * np.log(low) + np.log(f)


def _log_share_of_purchase(rho, s, rate_a, rate_b) -> np.ndarray:
    """log E[lam / (lam + mu)] for independent lam ~ gamma(rho, rate_a), mu ~ gamma(s, rate_b).

    lam/(lam+mu) is the integral over u of lam e^-u(lam+mu), whose expectation has closed form.
    """
    return np.log(rho) + rho * np.log(rate_a) + s * np.log(rate_b) + _log_integral(rho + 1.0, s, rate_a, rate_b)


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

    def _likelihood_with_gradient(self, x, t_x, big_t):
        """Exact per-row LL and gradient in (r, alpha, s, beta); see `_tail_with_gradient`.

        The likelihood is U(x, T) + tail(x, t_x) with U = alive at T minus the tail after T. Both
        parts are computed once per distinct (x, T) and (x, t_x) pair (a few percent of the distinct
        rows on real summaries); per row only their log-sum and its weights remain.
        """
        code_big, pairs_big = distinct_rows(x, big_t)
        code_t, pairs_t = distinct_rows(x, t_x)
        n_big = len(pairs_big[0])
        pair_x = np.concatenate([pairs_big[0], pairs_t[0]])
        pair_t = np.concatenate([pairs_big[1], pairs_t[1]])
        ux, ix = np.unique(x, return_inverse=True)
        ix = ix.reshape(-1)
        bx, bt = pairs_big

        def evaluate(params, weights=None):
            r, alpha, s, beta = params
            log_tail, tail_grad = _tail_with_gradient(params, pair_x, pair_t)
            # U per (x, T) pair, in logs, with the gradient of log U.
            log_a, log_b = np.log(alpha + bt), np.log(beta + bt)
            log_alive = -(r + bx) * log_a - s * log_b
            alive_grad = np.vstack([-log_a, -(r + bx) / (alpha + bt), -log_b, -s / (beta + bt)])
            tail_big = log_tail[:n_big]
            ratio = np.exp(np.minimum(tail_big - log_alive, 0.0))
            log_u = log_alive + np.log(-np.expm1(np.log(ratio)))
            u_grad = (alive_grad - ratio * tail_grad[:, :n_big]) / (1.0 - ratio)
            # Per row: log(U + tail(t_x)) and the share of U in it.
            lu, lt = log_u[code_big], log_tail[n_big:][code_t]
            log_total = np.logaddexp(lu, lt)
            share = np.exp(lu - log_total)
            head_x = gammaln(r + ux) - gammaln(r)
            ll = head_x[ix] + r * np.log(alpha) + s * np.log(beta) + log_total
            d_head_x = digamma(r + ux) - digamma(r)
            constant = np.array([np.log(alpha), r / alpha, np.log(beta), s / beta])
            if weights is None:
                grad = (constant[:, None] + np.vstack([d_head_x[ix], np.zeros((3, len(x)))])
                        + share * u_grad[:, code_big] + (1 - share) * tail_grad[:, n_big:][:, code_t])
                return ll, grad
            grad = (constant * weights.sum() + np.array([d_head_x @ np.bincount(ix, weights, len(ux)), 0, 0, 0])
                    + u_grad @ np.bincount(code_big, weights * share, n_big)
                    + tail_grad[:, n_big:] @ np.bincount(code_t, weights * (1 - share), len(pairs_t[0])))
            return ll, grad

        return evaluate

    def _log_probability_alive(self, params, x, t_x, big_t):
        log_alive, log_total = _log_parts(params, x, t_x, big_t)
        return np.minimum(log_alive - log_total, 0.0)

    def _purchases_if_alive(self, params, t, x, big_t):
        r, alpha, s, beta = params
        span = np.log1p(t / (beta + big_t))
        # (1 - ((beta+T)/(beta+T+t))^(s-1)) / (s-1), with its limit `span` at s = 1
        if abs(s - 1) < 1e-8:
            growth = span
        else:
            growth = -np.expm1(-(s - 1) * span) / (s - 1)
        return (r + x) * (beta + big_t) / (alpha + big_t) * growth

    def _quiet_if_alive(self, params, t, x, big_t):
        """Alive at T, the rates are gamma(r+x, alpha+T) and gamma(s, beta+T); no purchase in t means
        death before the next purchase, or neither within t: E[mu/(lam+mu)] + E[lam/(lam+mu) e^-(lam+mu)t].
        """
        r, alpha, s, beta = params
        rho = r + x
        rate_a, rate_b = alpha + big_t, beta + big_t
        now = _log_share_of_purchase(rho, s, rate_a, rate_b)
        later = _log_share_of_purchase(rho, s, rate_a + t, rate_b + t)
        log_k = rho * (np.log(rate_a) - np.log(rate_a + t)) + s * (np.log(rate_b) - np.log(rate_b + t))
        return np.clip(1.0 - np.exp(now) + np.exp(log_k + later), 0.0, 1.0)

    def _start(self, x, t_x, big_t, *, weights):
        mean_rate = max(float(weights @ x) / float(weights @ np.maximum(big_t, 1e-9)), 1e-3)
        scale = float(weights @ big_t) / float(weights.sum())
        return np.array([1.0, 1.0 / mean_rate, 1.0, max(scale, 1e-3)])
