"""The Gauss hypergeometric function 2F1(1, b; c; z) with its derivatives in b, c and z, by series.

The Pareto/NBD likelihood needs exactly this function with 0 < b < c and 0 <= z < 1 (see
`pareto._log_tail`). There every term of the power series is positive, so summing it loses no
digits, and the parameter derivatives come from the same terms:

    F = sum_n t_n,   t_0 = 1,   t_{n+1} = t_n (b + n) / (c + n) z
    dF/db = sum_n t_n sum_{k<n} 1/(b + k),   dF/dc = -sum_n t_n sum_{k<n} 1/(c + k),   dF/dz = sum_n n t_n / z

The term ratio is at most z, so rows with small z need a dozen terms; the loop keeps only rows that
have not converged and sums them in growing blocks, so the few rows with z near 1 (customers seen at t near 0 when alpha and beta
differ a lot) cost little. Rows still open after MAX_TERMS (z above ~0.999 with b in the thousands,
met only at far-off trial parameters of a fit on tiny or degenerate data) take their value from
scipy's hyp2f1 where that is finite and add a geometric estimate of the remaining terms to the
derivative sums: there the gradient is approximate, never NaN, and the fit stays fast.
"""

from __future__ import annotations

import numpy as np
from scipy.special import hyp2f1

# Relative size of the neglected tail (all four sums) at which a row stops.
TOLERANCE = 1e-17
# Bound on the terms of the rows with z closest to 1 (z > 0.999 only at absurd trial parameters).
MAX_TERMS = 20_000


def hyp2f1_b_c(b: np.ndarray, c: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(F, dF/db, dF/dc, dF/dz) of 2F1(1, b; c; z), elementwise, for 0 < b < c and 0 <= z < 1."""
    b, c, z = np.broadcast_arrays(np.asarray(b, float), np.asarray(c, float), np.asarray(z, float))
    size = b.size
    total, d_b, d_c, d_n = np.ones(size), np.zeros(size), np.zeros(size), np.zeros(size)
    idx = np.arange(size)
    rb, rc, rz = b.reshape(-1).copy(), c.reshape(-1).copy(), z.reshape(-1).copy()
    term, sum_b, sum_c = np.ones(size), np.zeros(size), np.zeros(size)
    s0, sb, sc, sn = np.ones(size), np.zeros(size), np.zeros(size), np.zeros(size)
    # Tail bound factor: the remaining terms shrink at least geometrically with ratio z.
    slack = 1.0 / np.square(1.0 - np.minimum(rz, 1 - 1e-12))
    n, block = 0, 1
    while idx.size and n < MAX_TERMS:
        if block == 1:  # one term for every open row while most rows are still open
            sum_b += 1.0 / (rb + n)
            sum_c += 1.0 / (rc + n)
            term *= (rb + n) / (rc + n) * rz
            s0 += term
            sb += term * sum_b
            sc += term * sum_c
            sn += (n + 1) * term
        else:  # then the few slow rows (z near 1) in growing blocks of terms at once
            ks = n + np.arange(block, dtype=float)
            terms = term[:, None] * np.cumprod((rb[:, None] + ks) / (rc[:, None] + ks) * rz[:, None], axis=1)
            acc_b = sum_b[:, None] + np.cumsum(1.0 / (rb[:, None] + ks), axis=1)
            acc_c = sum_c[:, None] + np.cumsum(1.0 / (rc[:, None] + ks), axis=1)
            s0 += terms.sum(axis=1)
            sb += (terms * acc_b).sum(axis=1)
            sc += (terms * acc_c).sum(axis=1)
            sn += terms @ (ks + 1.0)
            term, sum_b, sum_c = terms[:, -1].copy(), acc_b[:, -1].copy(), acc_c[:, -1].copy()
        n += block
        block = 1 if n < 24 else min(max(2 * block, 16), 256)
        done = term * (n + 1 + sum_b + sum_c) * slack <= TOLERANCE * s0
        if done.any():
            finished = idx[done]
            total[finished], d_b[finished], d_c[finished], d_n[finished] = s0[done], sb[done], sc[done], sn[done]
            keep = ~done
            idx, rb, rc, rz, term, sum_b, sum_c, slack = (
                idx[keep], rb[keep], rc[keep], rz[keep], term[keep], sum_b[keep], sum_c[keep], slack[keep])
            s0, sb, sc, sn = s0[keep], sb[keep], sc[keep], sn[keep]
    if idx.size:  # not converged within MAX_TERMS: partial sums plus a geometric tail
        ratio = np.minimum((rb + n) / (rc + n) * rz, 1 - 1e-12)
        rest = term * ratio / (1 - ratio)
        exact = hyp2f1(1.0, rb, rc, rz)
        total[idx] = np.where(np.isfinite(exact) & (exact >= s0), exact, s0 + rest)
        d_b[idx], d_c[idx] = sb + rest * sum_b, sc + rest * sum_c
        d_n[idx] = sn + rest * (n + 1 / (1 - ratio))
    flat_z = z.reshape(-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        d_z = np.where(flat_z > 0, d_n / flat_z, b.reshape(-1) / c.reshape(-1))
    shape = b.shape
    return total.reshape(shape), d_b.reshape(shape), (-d_c).reshape(shape), d_z.reshape(shape)
