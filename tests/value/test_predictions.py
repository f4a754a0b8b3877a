"""Per-person predictions against direct numerical integration over the individual-level model."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from scipy.special import roots_legendre

from flywheel.value import (
    BetaGeoModel,
    ModifiedBetaGeoModel,
    NotFittedError,
    ParetoNBDModel,
)

CUSTOMERS = [(0, 0.0, 38.0), (1, 2.0, 38.0), (3, 30.0, 38.0), (7, 37.0, 39.0), (2, 5.0, 20.0)]


def _grid(n: int = 400):
    nodes, weights = roots_legendre(n)
    return (nodes + 1) / 2, weights / 2


def _integrate(prior_a, prior_b, individual):
    """E over the prior (quantile transform) of individual(u_draws, v_draws): a 2-D Gauss-Legendre sum."""
    u, wu = _grid()
    first, second = prior_a.ppf(u)[:, None], prior_b.ppf(u)[None, :]
    return [np.sum(wu[:, None] * wu[None, :] * part) for part in individual(first, second)]


def _fitted(model_cls, params):
    model = model_cls()
    model.params_ = dict(zip(model_cls.param_names, params))
    return model


@pytest.mark.parametrize("model_cls, death_shift", [(BetaGeoModel, 0), (ModifiedBetaGeoModel, 1)])
def test_beta_geo_predictions_match_integration(model_cls, death_shift):
    r, alpha, a, b = 0.6, 5.0, 1.3, 2.5
    model = _fitted(model_cls, (r, alpha, a, b))
    t = 12.0
    for x, t_x, big_t in CUSTOMERS:
        def individual(lam, p):
            alive = (1 - p) ** (x + death_shift) * lam**x * np.exp(-lam * big_t)
            gone = p * (1 - p) ** (x - 1 + death_shift) * lam**x * np.exp(-lam * t_x) if (x > 0 or death_shift) else 0 * lam
            return alive + gone, alive, alive * (1 - np.exp(-lam * p * t)) / p, alive * np.exp(-lam * t)

        total, alive, purchases, quiet = _integrate(stats.gamma(r, scale=1 / alpha), stats.beta(a, b), individual)
        assert model.probability_alive(x, t_x, big_t)[0] == pytest.approx(alive / total, rel=1e-4)
        assert model.predict_purchases(t, x, t_x, big_t)[0] == pytest.approx(purchases / total, rel=1e-4)
        assert model.probability_no_purchase(t, x, t_x, big_t)[0] == pytest.approx(1 - (alive - quiet) / total, rel=1e-4)
        assert model.log_likelihood(x, t_x, big_t)[0] == pytest.approx(np.log(total), abs=1e-4)


@pytest.mark.parametrize("params", [(0.55, 10.58, 0.61, 11.67), (0.8, 12.0, 1.4, 3.0), (1.2, 6.0, 1.0, 6.0)])
def test_pareto_predictions_match_integration(params):
    r, alpha, s, beta = params
    model = _fitted(ParetoNBDModel, params)
    t = 10.0
    for x, t_x, big_t in CUSTOMERS:
        def individual(lam, mu):
            alive = lam**x * np.exp(-(lam + mu) * big_t)
            gone = lam**x * mu / (lam + mu) * (np.exp(-(lam + mu) * t_x) - np.exp(-(lam + mu) * big_t))
            quiet = alive * (mu / (lam + mu) + lam / (lam + mu) * np.exp(-(lam + mu) * t))
            return alive + gone, alive, alive * lam / mu * (1 - np.exp(-mu * t)), quiet

        total, alive, purchases, quiet = _integrate(stats.gamma(r, scale=1 / alpha), stats.gamma(s, scale=1 / beta), individual)
        assert model.log_likelihood(x, t_x, big_t)[0] == pytest.approx(np.log(total), abs=1e-4)
        assert model.probability_alive(x, t_x, big_t)[0] == pytest.approx(alive / total, rel=1e-4)
        assert model.predict_purchases(t, x, t_x, big_t)[0] == pytest.approx(purchases / total, rel=1e-3)
        dead = (total - alive) / total
        assert model.probability_no_purchase(t, x, t_x, big_t)[0] == pytest.approx(dead + quiet / total, rel=1e-4)


def test_predictions_need_a_fit():
    with pytest.raises(NotFittedError, match="not fitted"):
        BetaGeoModel().predict_purchases(10, [1], [2.0], [5.0])
