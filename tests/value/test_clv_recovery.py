"""Parameter recovery at 100,000 simulated persons, drawn from each model's own generative process.

Tolerance, the same for every model: each estimate lies within 4 of its own standard errors of the
truth, and within 10% of it. Why: at 100k persons the maximum-likelihood estimate is close to normal
around the truth with the spread the inverse Hessian reports, so 4 standard errors fails a correct
fit with probability ~6e-5 per parameter (seeds are fixed, so the test is deterministic anyway), while
a wrong likelihood or gradient moves estimates by many standard errors. The 10% bound keeps the check
meaningful should the reported errors themselves be inflated; the standard errors are also required to
be small (under 5% of the value), as they must be at this size. The simulators round recency and T
down to whole days, as real summaries are, which the models do not know about; that bias is far
below the tolerance at weekly periods.
"""

from __future__ import annotations

import numpy as np
import pytest

from flywheel.value import BetaGeoModel, GammaGammaModel, ModifiedBetaGeoModel, ParetoNBDModel
from flywheel.value.clv import simulate_bgnbd, simulate_gamma_gamma, simulate_pareto_nbd

PERSONS = 100_000


def _assert_recovered(model, truth: dict) -> None:
    for name, value in truth.items():
        estimate, error = model.params_[name], model.standard_errors_[name]
        assert 0 < error < 0.05 * value, (name, error)
        assert abs(estimate - value) < 4 * error, (name, estimate, value, error)
        assert estimate == pytest.approx(value, rel=0.10), name


def test_bgnbd_recovery():
    truth = {"r": 0.5, "alpha": 6.0, "a": 0.8, "b": 2.5}
    x, t_x, big_t, _ = simulate_bgnbd(PERSONS, **truth, seed=11)
    _assert_recovered(BetaGeoModel().fit(x, t_x, big_t), truth)


def test_mbgnbd_recovery():
    truth = {"r": 0.5, "alpha": 6.0, "a": 0.8, "b": 2.5}
    x, t_x, big_t, _ = simulate_bgnbd(PERSONS, **truth, seed=12, drop_at_first=True)
    _assert_recovered(ModifiedBetaGeoModel().fit(x, t_x, big_t), truth)


def test_pareto_nbd_recovery_and_holdout():
    truth = {"r": 0.55, "alpha": 10.58, "s": 0.61, "beta": 11.67}
    x, t_x, big_t, later = simulate_pareto_nbd(PERSONS, **truth, seed=13, holdout=39.0)
    model = ParetoNBDModel().fit(x, t_x, big_t)
    _assert_recovered(model, truth)
    # The recovered model also predicts the simulated holdout total.
    assert model.predict_purchases(39.0, x, t_x, big_t).sum() == pytest.approx(later.sum(), rel=0.03)


def test_gamma_gamma_recovery():
    truth = {"p": 6.25, "q": 3.74, "v": 15.44}
    frequency = np.random.default_rng(14).geometric(0.3, PERSONS).astype(float)  # 1, 2, ... repeat purchases
    spend = simulate_gamma_gamma(frequency, **truth, seed=15)
    _assert_recovered(GammaGammaModel().fit(frequency, spend), truth)
