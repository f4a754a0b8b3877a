"""`score_customers`: per-person predictions against plain formulas, and finite on extreme inputs."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import hyp2f1

from flywheel.value import BetaGeoModel, DataError, GammaGammaModel, ModifiedBetaGeoModel, ParetoNBDModel
from flywheel.value.clv import SCORE_COLUMNS, score_customers

BG = (0.24259, 4.41360, 0.79292, 2.42589)  # CDNOW BG/NBD
PARETO = (0.55, 10.58, 0.61, 11.67)  # CDNOW Pareto/NBD
GG = (6.25, 3.74, 15.44)  # CDNOW Gamma-Gamma


def _fitted(model_cls, params):
    model = model_cls()
    model.params_ = dict(zip(model_cls.param_names, params))
    return model


def _bgnbd_textbook(r, alpha, a, b, x, t_x, big_t, t):
    """Fader, Hardie & Lee (2005) eq. 10 exactly as printed (the 2F1 in its original, unbounded form)."""
    head = (a + b + x - 1) / (a - 1)
    bracket = 1 - ((alpha + big_t) / (alpha + big_t + t)) ** (r + x) * hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + big_t + t))
    odds = (a / (b + x - 1)) * ((alpha + big_t) / (alpha + t_x)) ** (r + x) if x > 0 else 0.0
    return head * bracket / (1 + odds)


def test_bgnbd_expectation_matches_the_published_formula(cdnow_summary):
    """Every CDNOW customer: Euler-transformed, per-pair computation = the formula as printed."""
    model = _fitted(BetaGeoModel, BG)
    x, t_x, big_t = (cdnow_summary[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    scores = score_customers(model, x, t_x, big_t, horizon=39)
    expected = [_bgnbd_textbook(*BG, xi, ti, bi, 39.0) for xi, ti, bi in zip(x, t_x, big_t)]
    np.testing.assert_allclose(scores["expected_purchases"], expected, rtol=1e-9)
    # The cohort total over the 39 holdout weeks, as test_evaluate measures it (1,882 happened).
    assert scores["expected_purchases"].sum() == pytest.approx(1653, abs=2)
    # BG/NBD: a customer without repeat purchases has not had a chance to drop out.
    assert scores["probability_alive"][x == 0].eq(1.0).all()


@pytest.mark.parametrize("model_cls, params", [(BetaGeoModel, BG), (ModifiedBetaGeoModel, BG), (ParetoNBDModel, PARETO)])
def test_scores_equal_the_per_customer_methods_and_a_plain_clv_sum(model_cls, params, cdnow_summary):
    model, spend = _fitted(model_cls, params), _fitted(GammaGammaModel, GG)
    data = cdnow_summary.sample(300, random_state=1)
    x, t_x, big_t, m = (data[c].to_numpy(float) for c in ("frequency", "recency", "T", "monetary_value"))
    scores = score_customers(model, x, t_x, big_t, horizon=26, spend_model=spend, monetary_value=m, discount_rate=0.01)
    assert list(scores.columns) == list(SCORE_COLUMNS)
    np.testing.assert_allclose(scores["expected_purchases"], model.predict_purchases(26, x, t_x, big_t), rtol=1e-12)
    np.testing.assert_allclose(scores["probability_alive"], model.probability_alive(x, t_x, big_t), rtol=1e-12)
    np.testing.assert_allclose(scores["probability_no_purchase"], model.probability_no_purchase(26, x, t_x, big_t), rtol=1e-12)
    # CLV by hand: differences of cumulative expectations, discounted period by period.
    cumulative = np.column_stack([np.zeros(len(x))] + [model.predict_purchases(k, x, t_x, big_t) for k in range(1, 27)])
    by_hand = (np.diff(cumulative, axis=1) @ 1.01 ** -np.arange(1, 27)) * spend.predict_spend(x, m)
    np.testing.assert_allclose(scores["clv"], by_hand, rtol=1e-9)
    # Spend: (v + m x) p / (p x + q - 1), the population mean p v / (q - 1) without repeat purchases.
    p, q, v = GG
    np.testing.assert_allclose(scores["expected_spend"], (v + m * x) * p / (p * x + q - 1), rtol=1e-12)
    assert scores["expected_spend"][x == 0].eq(p * v / (q - 1)).all()


@pytest.mark.parametrize("model_cls, params", [(BetaGeoModel, BG), (ModifiedBetaGeoModel, BG), (ParetoNBDModel, PARETO),
                                               (ParetoNBDModel, (2.0, 0.5, 3.0, 0.1)), (BetaGeoModel, (0.5, 1e3, 3.0, 0.1))])
def test_extreme_customers_and_a_million_rows_stay_finite(model_cls, params):
    rng = np.random.default_rng(7)
    n = 1_000_000
    x = rng.choice([0, 1, 5, 40, 1_000, 5_000], n).astype(float)
    big_t = rng.choice([0.0, 1.0, 52.0, 1e4, 1e6], n)
    t_x = np.where(x > 0, np.floor(rng.random(n) * big_t), 0.0)
    x[:10], t_x[:10], big_t[:10] = 5_000, 1e4, 1e4
    m = np.where(x > 0, rng.gamma(2.0, 50.0, n), 0.0)
    scores = score_customers(_fitted(model_cls, params), x, t_x, big_t, horizon=52,
                             spend_model=_fitted(GammaGammaModel, GG), monetary_value=m, discount_rate=0.002)
    assert np.isfinite(scores.to_numpy()).all()
    for column in ("probability_alive", "probability_no_purchase"):
        assert scores[column].between(0, 1).all(), column
    assert (scores["expected_purchases"] >= 0).all() and (scores["clv"] >= 0).all()
    # Alive customers who buy every period keep buying: 5,000 purchases in 1e4 periods, last one now.
    busy = scores["expected_purchases"][:10]
    assert busy.min() > 20 and (scores["probability_alive"][:10] > 0.99).all()


def test_scores_keep_the_customer_index(cdnow_summary):
    data = cdnow_summary.set_index("ID").head(5)
    scores = score_customers(_fitted(ParetoNBDModel, PARETO), data["frequency"], data["recency"], data["T"], horizon=10)
    assert list(scores.index) == list(data.index)


def test_bad_scoring_input():
    model = _fitted(BetaGeoModel, BG)
    with pytest.raises(DataError, match="horizon must be"):
        score_customers(model, [1], [1.0], [2.0], horizon=0)
    with pytest.raises(DataError, match="whole number"):
        score_customers(model, [1], [1.0], [2.0], horizon=2.5, spend_model=_fitted(GammaGammaModel, GG), monetary_value=[3.0])
    with pytest.raises(DataError, match="monetary_value is needed"):
        score_customers(model, [1], [1.0], [2.0], spend_model=_fitted(GammaGammaModel, GG))
    with pytest.raises(DataError, match="recency must be ≤ T"):
        score_customers(model, [1], [3.0], [2.0])
