"""The exact BG/NBD and MBG/NBD gradients, and the warm-started fit used on large data."""

from __future__ import annotations

import numpy as np
import pytest
from bgnbd_simulation import simulate_bgnbd

from flywheel.value import BetaGeoModel, ModifiedBetaGeoModel
from flywheel.value.clv import base


@pytest.mark.parametrize("model_class", [BetaGeoModel, ModifiedBetaGeoModel])
def test_exact_gradient_matches_finite_differences(model_class):
    x, t_x, big_t, _ = simulate_bgnbd(3000, 0.24, 4.41, 0.79, 2.43, seed=3)
    model = model_class()
    exact = model._likelihood_with_gradient(x, t_x, big_t)
    params = np.array([0.3, 5.0, 0.7, 2.0])
    ll, gradient = exact(params)
    np.testing.assert_allclose(ll, model._row_log_likelihood(params, x, t_x, big_t), rtol=1e-12)
    for i in range(4):
        step = np.zeros(4)
        step[i] = 1e-6
        numeric = (model._row_log_likelihood(params + step, x, t_x, big_t).sum()
                   - model._row_log_likelihood(params - step, x, t_x, big_t).sum()) / 2e-6
        assert gradient[i].sum() == pytest.approx(numeric, rel=1e-5, abs=1e-4)
    weights = np.random.default_rng(0).random(len(x))  # the fit's path: the weighted sum, built per pair
    np.testing.assert_allclose(exact(params, weights)[1], gradient @ weights, rtol=1e-10)


def test_warm_start_reaches_the_same_maximum(cdnow_summary, monkeypatch):
    columns = [cdnow_summary[c] for c in ("frequency", "recency", "T")]
    direct = BetaGeoModel().fit(*columns)
    monkeypatch.setattr(base, "WARM_START_ROWS", 200)  # CDNOW has ~1,400 distinct rows
    warm = BetaGeoModel().fit(*columns)
    assert warm.log_likelihood_ == pytest.approx(direct.log_likelihood_, abs=1e-6)
    for name in direct.params_:
        assert warm.params_[name] == pytest.approx(direct.params_[name], rel=1e-5)
        assert warm.standard_errors_[name] == pytest.approx(direct.standard_errors_[name], rel=1e-3)


def test_compression_keeps_weights_and_rows():
    x = np.array([1.0, 0.0, 1.0, 2.0, 1.0])
    t_x = np.array([3.0, 0.0, 3.0, 5.0, 2.0])
    big_t = np.array([9.0, 4.0, 9.0, 9.0, 9.0])
    counts, (ux, ut, ub) = base.compress(np.array([1.0, 2.0, 3.0, 4.0, 5.0]), x, t_x, big_t)
    rows = {(a, b, c): w for a, b, c, w in zip(ux, ut, ub, counts)}
    assert rows == {(0.0, 0.0, 4.0): 2.0, (1.0, 2.0, 9.0): 5.0, (1.0, 3.0, 9.0): 4.0, (2.0, 5.0, 9.0): 4.0}
