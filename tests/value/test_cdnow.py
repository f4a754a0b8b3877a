"""The published CDNOW results (Fader, Hardie & Lee 2005 and their notes) are reproduced."""

from __future__ import annotations

import numpy as np
import pytest

from flywheel.value import (
    BetaGeoModel,
    GammaGammaModel,
    ModifiedBetaGeoModel,
    ParetoNBDModel,
    summary_from_transactions,
)

PUBLISHED_BGNBD = {"r": 0.24259, "alpha": 4.41360, "a": 0.79292, "b": 2.42589}


def _sig(value: float, digits: int) -> float:
    return float(f"{value:.{digits - 1}e}")


@pytest.fixture(scope="module")
def exact_summary(cdnow_transactions):
    return summary_from_transactions(cdnow_transactions, "id", "date", "amount", period="week",
                                     calibration_end="1997-09-30")


def test_summary_matches_the_published_table(exact_summary, cdnow_summary):
    assert len(exact_summary) == 2357
    ref = cdnow_summary.set_index("ID").loc[exact_summary.index]
    assert (exact_summary["frequency"].to_numpy() == ref["frequency"].to_numpy()).all()
    np.testing.assert_allclose(exact_summary["recency"], ref["recency"], atol=0.005)
    np.testing.assert_allclose(exact_summary["T"], ref["T"], atol=0.005)
    np.testing.assert_allclose(exact_summary["monetary_value"], ref["monetary_value"], atol=0.0051)


@pytest.mark.parametrize("source", ["exact", "rounded"])
def test_bgnbd_matches_published_mle(source, exact_summary, cdnow_summary):
    data = exact_summary if source == "exact" else cdnow_summary
    model = BetaGeoModel().fit(data["frequency"], data["recency"], data["T"])
    assert model.log_likelihood_ == pytest.approx(-9582.43, abs=0.005)
    for name, value in PUBLISHED_BGNBD.items():
        assert _sig(model.params_[name], 4) == _sig(value, 4), name
    assert all(0 < model.standard_errors_[n] < model.params_[n] for n in PUBLISHED_BGNBD)


def test_pareto_nbd_matches_published_ll(cdnow_summary):
    model = ParetoNBDModel().fit(cdnow_summary["frequency"], cdnow_summary["recency"], cdnow_summary["T"])
    # Published: LL -9594.98 at r, alpha, s, beta = 0.55, 10.58, 0.61, 11.67 (two decimals).
    assert model.log_likelihood_ == pytest.approx(-9594.98, abs=0.01)
    assert [round(model.params_[n], 2) for n in ("r", "alpha", "s", "beta")] == [0.55, 10.58, 0.61, 11.67]


def test_mbgnbd_fits_cdnow(cdnow_summary):
    model = ModifiedBetaGeoModel().fit(cdnow_summary["frequency"], cdnow_summary["recency"], cdnow_summary["T"])
    assert [round(model.params_[n], 3) for n in ("r", "alpha", "a", "b")] == [0.525, 6.183, 0.891, 1.614]
    assert model.log_likelihood_ > -9582.43  # one more drop-out chance can only help on CDNOW


def test_gamma_gamma_matches_published(cdnow_summary):
    repeat = cdnow_summary[(cdnow_summary["frequency"] > 0) & (cdnow_summary["monetary_value"] > 0)]
    assert len(repeat) == 946
    model = GammaGammaModel().fit(repeat["frequency"], repeat["monetary_value"])
    # Convention: the density of the observed mean spend m_x, Jacobian terms included.
    assert model.log_likelihood_ == pytest.approx(-4055.92, abs=0.005)
    assert [_sig(model.params_[n], 3) for n in ("p", "q", "v")] == [6.25, 3.74, 15.4]
    assert model.params_["v"] == pytest.approx(15.44, abs=0.01)
