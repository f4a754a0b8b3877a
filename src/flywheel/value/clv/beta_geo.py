"""BG/NBD (Fader, Hardie & Lee 2005) and MBG/NBD (Batislam, Denizel & Filiztekin 2007).

Purchases follow a Poisson process with gamma(r, alpha) rates; after each purchase a customer drops
out with a beta(a, b) probability p. MBG/NBD also lets a customer drop out at the first purchase, so
customers without repeat purchases are not all assumed alive. Everything is computed in log space.
"""

from __future__ import annotations

import numpy as np
from scipy.special import betaln, digamma, gammaln, hyp2f1

from flywheel.value.clv.base import distinct_rows
from flywheel.value.clv.purchase_model import PurchaseModel


class BetaGeoModel(PurchaseModel):
    """BG/NBD: `BetaGeoModel().fit(frequency, recency, T).params_` -> {r, alpha, a, b}.

    Example: on the CDNOW 39-week cohort the fit gives r=0.2426, alpha=4.414, a=0.7929, b=2.426
    and a log-likelihood of -9582.43, as published.
    """

    param_names = ("r", "alpha", "a", "b")
    _death_at_first_purchase = 0  # MBG/NBD sets 1: one more chance to drop out

    def _row_log_likelihood(self, params, x, t_x, big_t):
        r, alpha, a, b = params
        shift = self._death_at_first_purchase
        head = gammaln(r + x) - gammaln(r) + r * np.log(alpha) - betaln(a, b)
        alive = betaln(a, b + x + shift) - (r + x) * np.log(alpha + big_t)
        has_drop = (x > 0) | bool(shift)
        safe_x = np.where(has_drop, x, 1.0)
        dropped = betaln(a + 1, b + safe_x - 1 + shift) - (r + safe_x) * np.log(alpha + t_x)
        dropped = np.where(has_drop, dropped, -np.inf)
        return head + np.logaddexp(alive, dropped)

    def _likelihood_with_gradient(self, x, t_x, big_t):
        """Exact per-row LL and gradient in (r, alpha, a, b).

        The likelihood is head(x) x [alive(x, T) + dropped(x, t_x)]: the two parts are computed once
        per distinct (x, T) and (x, t_x) pair, terms in x alone (gamma, beta, digamma) once per
        distinct frequency; per row only their log-sum and its split remain, and with `weights` the
        gradient is reduced by sums per pair instead of being built per row.
        """
        shift = self._death_at_first_purchase
        ux, ix = np.unique(x, return_inverse=True)
        ix = ix.reshape(-1)
        code_big, (bx, bt) = distinct_rows(x, big_t)
        code_t, (tx, tt) = distinct_rows(x, t_x)
        bix, tix = np.searchsorted(ux, bx), np.searchsorted(ux, tx)
        has_drop = (ux > 0) | bool(shift)
        safe_x = np.where(has_drop, ux, 1.0)

        def evaluate(params, weights=None):
            r, alpha, a, b = params
            psi_sum = digamma(a + b + ux + shift)
            # alive at T, per (x, T) pair
            log_big = np.log(alpha + bt)
            alive = betaln(a, b + ux + shift)[bix] - (r + bx) * log_big
            alive_grad = np.vstack([-log_big, -(r + bx) / (alpha + bt), (digamma(a) - psi_sum)[bix],
                                    (digamma(b + ux + shift) - psi_sum)[bix]])
            # dropped out right after the last purchase, per (x, t_x) pair
            log_t = np.log(alpha + tt)
            dropped = np.where(has_drop, betaln(a + 1, b + safe_x - 1 + shift), -np.inf)[tix] - (r + tx) * log_t
            dropped_grad = np.vstack([-log_t, -(r + tx) / (alpha + tt), (digamma(a + 1) - psi_sum)[tix],
                                      (digamma(b + safe_x - 1 + shift) - psi_sum)[tix]])
            la, ld = alive[code_big], dropped[code_t]
            both = np.logaddexp(la, ld)
            share = np.exp(la - both)
            head_x = gammaln(r + ux) - gammaln(r)
            ll = head_x[ix] + r * np.log(alpha) - betaln(a, b) + both
            constant = np.array([np.log(alpha) - digamma(r), r / alpha, digamma(a + b) - digamma(a), digamma(a + b) - digamma(b)])
            psi_rx = digamma(r + ux)
            if weights is None:
                grad = (constant[:, None] + np.vstack([psi_rx[ix], np.zeros((3, len(x)))])
                        + share * alive_grad[:, code_big] + (1 - share) * dropped_grad[:, code_t])
                return ll, grad
            grad = (constant * weights.sum() + np.array([psi_rx @ np.bincount(ix, weights, len(ux)), 0, 0, 0])
                    + alive_grad @ np.bincount(code_big, weights * share, len(bx))
                    + dropped_grad @ np.bincount(code_t, weights * (1 - share), len(tx)))
            return ll, grad

        return evaluate

    def _log_probability_alive(self, params, x, t_x, big_t):
        r, alpha, a, b = params
        shift = self._death_at_first_purchase
        has_drop = (x > 0) | bool(shift)
        denominator = np.where(has_drop, b + x - 1 + shift, 1.0)
        log_odds = np.log(a) - np.log(denominator) + (r + x) * (np.log(alpha + big_t) - np.log(alpha + t_x))
        return np.where(has_drop, -np.logaddexp(0.0, log_odds), 0.0)

    def _purchases_if_alive(self, params, t, x, big_t):
        r, alpha, a, b = params
        if abs(a - 1) < 1e-7:  # removable singularity of the closed form at a = 1
            a = 1 + 1e-7
        bb = b + self._death_at_first_purchase
        z = t / (alpha + big_t + t)
        # Euler's transformation keeps the 2F1 bounded: 1 - (1-z)^(a-1) 2F1(a+bb-1-r, a-1; a+bb+x-1; z).
        bracket = 1.0 - (1.0 - z) ** (a - 1) * hyp2f1(a + bb - 1 - r, a - 1, a + bb + x - 1, z)
        return (a + bb + x - 1) / (a - 1) * bracket

    def _quiet_if_alive(self, params, t, x, big_t):
        r, alpha = params[:2]
        return np.exp((r + x) * (np.log(alpha + big_t) - np.log(alpha + big_t + t)))

    def _start(self, x, t_x, big_t, *, weights):
        mean_rate = max(float(weights @ x) / float(weights @ np.maximum(big_t, 1e-9)), 1e-3)
        return np.array([1.0, 1.0 / mean_rate, 1.0, 1.0])


class ModifiedBetaGeoModel(BetaGeoModel):
    """MBG/NBD: as BG/NBD, but customers may also drop out right after their first purchase."""

    _death_at_first_purchase = 1
