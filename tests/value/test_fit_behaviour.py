"""Recovery of known parameters, stability on extreme customers, and input checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from bgnbd_simulation import simulate_bgnbd

from flywheel.errors import InputError
from flywheel.value import (
    BetaGeoModel,
    GammaGammaModel,
    ModifiedBetaGeoModel,
    ParetoNBDModel,
    calibration_and_holdout,
    summary_from_transactions,
)

TRUE = {"r": 0.5, "alpha": 6.0, "a": 0.8, "b": 2.5}


def test_bgnbd_recovers_simulated_parameters_and_holdout():
    """Tolerance: every estimate within 4 standard errors and 20% of the truth at 20k customers."""
    x, t_x, big_t, later = simulate_bgnbd(20_000, **TRUE, seed=3, holdout=26.0)
    model = BetaGeoModel().fit(x, t_x, big_t)
    for name, truth in TRUE.items():
        assert abs(model.params_[name] - truth) < 4 * model.standard_errors_[name], name
        assert model.params_[name] == pytest.approx(truth, rel=0.2), name
    predicted = model.predict_purchases(26.0, x, t_x, big_t)
    assert predicted.sum() == pytest.approx(later.sum(), rel=0.05)


def test_weights_equal_repeated_rows(cdnow_summary):
    data = cdnow_summary.head(500)
    doubled = pd.concat([data, data])
    once = BetaGeoModel().fit(data["frequency"], data["recency"], data["T"], weights=np.full(len(data), 2.0))
    twice = BetaGeoModel().fit(doubled["frequency"], doubled["recency"], doubled["T"])
    assert once.log_likelihood_ == pytest.approx(twice.log_likelihood_, rel=1e-9)


@pytest.mark.parametrize("model_cls", [BetaGeoModel, ModifiedBetaGeoModel, ParetoNBDModel])
def test_extreme_customers_stay_finite(model_cls):
    frequency = np.array([0, 5_000, 5_000, 3, 0, 1])
    recency = np.array([0.0, 1e4, 9_000.0, 1e6, 0.0, 0.0])
    big_t = np.array([1e6, 1e4, 1e4, 1e6, 0.0, 3.0])
    for params in ([0.3, 4.0, 0.8, 2.4], [2.0, 0.5, 3.0, 0.1], [0.5, 1e3, 0.5, 1e-2]):
        model = model_cls()
        model.params_ = dict(zip(model_cls.param_names, params))
        ll = model.log_likelihood(frequency, recency, big_t)
        assert np.isfinite(ll).all(), (params, ll)
        assert np.isfinite(model.predict_purchases(10.0, frequency, recency, big_t)).all()
        alive = model.probability_alive(frequency, recency, big_t)
        assert ((alive >= 0) & (alive <= 1)).all()


@pytest.mark.parametrize("model_cls", [BetaGeoModel, ParetoNBDModel])
def test_all_zero_frequencies_give_a_finite_fit(model_cls):
    model = model_cls().fit(np.zeros(50), np.zeros(50), np.linspace(1, 50, 50))
    assert np.isfinite(model.log_likelihood_)


def test_parameter_and_data_rules():
    with pytest.raises(InputError, match=r"The 'penalizer' parameter of BetaGeoModel must be ≥ 0. Got -1."):
        BetaGeoModel(penalizer=-1).fit([1], [1.0], [2.0])
    with pytest.raises(InputError, match="frequency must be ≥ 0"):
        ParetoNBDModel().fit([-1], [1.0], [2.0])
    with pytest.raises(InputError, match="recency must be ≤ T"):
        BetaGeoModel().fit([1], [3.0], [2.0])
    with pytest.raises(InputError, match="frequency > 0"):
        GammaGammaModel().fit([0, 2], [0.0, 10.0])


def test_clv_is_discounted_spend_times_purchases(cdnow_summary):
    data = cdnow_summary
    bg = BetaGeoModel().fit(data["frequency"], data["recency"], data["T"])
    repeat = data[data["frequency"] > 0]
    gg = GammaGammaModel().fit(repeat["frequency"], repeat["monetary_value"])
    row = repeat.head(3)
    undiscounted = gg.clv(bg, row["frequency"], row["recency"], row["T"], row["monetary_value"], 52, 0.0)
    expected = bg.predict_purchases(52, row["frequency"], row["recency"], row["T"]) * gg.predict_spend(
        row["frequency"], row["monetary_value"])
    np.testing.assert_allclose(undiscounted, expected, rtol=1e-9)
    discounted = gg.clv(bg, row["frequency"], row["recency"], row["T"], row["monetary_value"], 52, 0.01)
    assert (discounted < undiscounted).all()


def test_same_day_purchases_count_once_and_holdout_counts():
    log = pd.DataFrame({
        "who": ["a", "a", "a", "a", "b", "c"],
        "when": ["2024-01-01 09:00", "2024-01-01 18:00", "2024-01-15", "2024-02-05", "2024-01-08", "2024-02-20"],
        "paid": [10.0, 5.0, 20.0, 40.0, 7.0, 3.0],
    })
    summary = summary_from_transactions(log, "who", "when", "paid", period="week", calibration_end="2024-01-29")
    assert list(summary.index) == ["a", "b"]
    assert summary.loc["a"].tolist() == [1, 2.0, 4.0, 20.0]
    assert summary.loc["b"].tolist() == [0, 0.0, 3.0, 0.0]
    split = calibration_and_holdout(log, "who", "when", "2024-01-29", "2024-02-28", period="day")
    assert split["frequency_holdout"].tolist() == [1, 0]
    assert split["duration_holdout"].iloc[0] == 30.0
    with pytest.raises(InputError, match="lack column"):
        summary_from_transactions(log, "customer", "when")
