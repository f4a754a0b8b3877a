"""The exact Pareto/NBD gradient: its 2F1 series against scipy, and the gradient against finite differences."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import hyp2f1

from flywheel.value import GammaGammaModel, ParetoNBDModel
from flywheel.value.clv import base
from flywheel.value.clv.hypergeometric import hyp2f1_b_c
from flywheel.value.clv.simulate import simulate_pareto_nbd

B = np.array([0.3, 1.6, 12.0, 250.0, 4000.0])
GAP = np.array([0.05, 0.7, 1.0, 3.0, 25.0])  # c - b (= s + 1 or r + x)
Z = np.array([0.0, 0.1, 0.5, 0.9, 0.99])


def _grid():
    b, gap, z = (g.reshape(-1) for g in np.meshgrid(B, GAP, Z, indexing="ij"))
    return b, b + gap, z


def _plain_sum(b: float, c: float, z: float, terms: int = 20_000) -> float:
    """The defining series term by term in Python floats (math.fsum), for where scipy gives NaN."""
    values, term = [1.0], 1.0
    for n in range(terms):
        term *= (b + n) / (c + n) * z
        values.append(term)
    return math.fsum(values)


def test_series_matches_scipy_value_and_central_differences():
    b, c, z = _grid()
    f, f_b, f_c, f_z = hyp2f1_b_c(b, c, z)
    reference = hyp2f1(1.0, b, c, z)
    # scipy returns NaN for large b with z near 1 (b = 250 and 4000 at z = 0.99 here); the series does not.
    missing = ~np.isfinite(reference)
    assert missing.sum() <= 6
    reference[missing] = [_plain_sum(*args) for args in zip(b[missing], c[missing], z[missing])]
    np.testing.assert_allclose(f, reference, rtol=1e-12)
    b, c, z, f_b, f_c, f_z = (v[~missing] for v in (b, c, z, f_b, f_c, f_z))
    hb, hc, hz = 1e-6 * b, 1e-6 * c, 1e-7
    up_z, down_z = z + hz, np.maximum(z - hz, 0.0)
    for exact, numeric in [
        (f_b, (hyp2f1(1, b + hb, c, z) - hyp2f1(1, b - hb, c, z)) / (2 * hb)),
        (f_c, (hyp2f1(1, b, c + hc, z) - hyp2f1(1, b, c - hc, z)) / (2 * hc)),
        (f_z, (hyp2f1(1, b, c, up_z) - hyp2f1(1, b, c, down_z)) / (up_z - down_z)),
    ]:
        finite = np.isfinite(numeric)
        assert finite.mean() > 0.9
        np.testing.assert_allclose(exact[finite], numeric[finite], rtol=1e-5, atol=1e-9)


# Both branches of the tail (alpha >= beta and alpha < beta), alpha == beta, and far-off trial points.
POINTS = [(0.55, 10.58, 0.61, 11.67), (0.55, 12.0, 0.61, 3.0), (1.0, 5.0, 2.0, 5.0),
          (2.0, 0.5, 3.0, 0.1), (0.3, 100.0, 0.5, 1.0), (0.05, 3.0, 0.02, 40.0)]


@pytest.fixture(scope="module")
def customers():
    x, t_x, big_t, _ = simulate_pareto_nbd(2000, 0.55, 10.58, 0.61, 11.67, seed=5)
    # Extreme rows: thousands of purchases, a zero-length calibration, recency equal to T, T huge.
    extra = np.array([[0, 0, 0], [3000, 50, 60], [2000, 10, 60], [1, 0.5, 0.5], [0, 0, 1e6], [40, 9e5, 1e6]])
    return (np.concatenate([x, extra[:, 0]]), np.concatenate([t_x, extra[:, 1]]),
            np.concatenate([big_t, extra[:, 2]]))


@pytest.mark.parametrize("params", POINTS)
def test_exact_gradient_matches_finite_differences(params, customers):
    x, t_x, big_t = customers
    model = ParetoNBDModel()
    params = np.array(params)
    evaluate = model._likelihood_with_gradient(x, t_x, big_t)
    ll, grad = evaluate(params)
    np.testing.assert_allclose(ll, model._row_log_likelihood(params, x, t_x, big_t), rtol=1e-10, atol=1e-10)
    assert np.isfinite(grad).all()
    for i in range(4):
        step = np.zeros(4)
        step[i] = 1e-6 * params[i]
        numeric = (model._row_log_likelihood(params + step, x, t_x, big_t)
                   - model._row_log_likelihood(params - step, x, t_x, big_t)) / (2 * step[i])
        np.testing.assert_allclose(grad[i], numeric, rtol=2e-5, atol=1e-6 * max(1.0, np.abs(numeric).max()))
    weights = np.random.default_rng(0).random(len(x))
    np.testing.assert_allclose(evaluate(params, weights)[1], grad @ weights, rtol=1e-10)


def test_warm_start_reaches_the_same_maximum(cdnow_summary, monkeypatch):
    columns = [cdnow_summary[c] for c in ("frequency", "recency", "T")]
    direct = ParetoNBDModel().fit(*columns)
    monkeypatch.setattr(base, "WARM_START_ROWS", 200)
    warm = ParetoNBDModel().fit(*columns)
    assert warm.log_likelihood_ == pytest.approx(direct.log_likelihood_, abs=1e-6)
    for name in direct.params_:
        assert warm.params_[name] == pytest.approx(direct.params_[name], rel=1e-4)
        assert 0 < direct.standard_errors_[name] < direct.params_[name]


def test_gamma_gamma_gradient_matches_finite_differences(cdnow_summary):
    repeat = cdnow_summary[cdnow_summary["frequency"] > 0]
    x, m = repeat["frequency"].to_numpy(float), repeat["monetary_value"].to_numpy(float)
    model = GammaGammaModel()
    for params in (np.array([6.25, 3.74, 15.44]), np.array([0.5, 20.0, 300.0])):
        ll, grad = model._likelihood_with_gradient(x, m)(params)
        np.testing.assert_allclose(ll, model._row_log_likelihood(params, x, m), rtol=1e-12)
        for i in range(3):
            step = np.zeros(3)
            step[i] = 1e-6 * params[i]
            numeric = (model._row_log_likelihood(params + step, x, m) - model._row_log_likelihood(params - step, x, m)) / (2 * step[i])
            np.testing.assert_allclose(grad[i], numeric, rtol=1e-5, atol=1e-8)
