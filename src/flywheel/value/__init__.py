"""Customer value: traits, tiers, segments, lifetime-value models and value scores."""

from flywheel.value.clv import (
    BetaGeoModel,
    DataError,
    GammaGammaModel,
    ModifiedBetaGeoModel,
    NotFittedError,
    ParameterError,
    ParetoNBDModel,
    SummaryError,
    calibration_and_holdout,
    evaluate_holdout,
    evaluate_transactions,
    summary_from_transactions,
)
from flywheel.value.alerts import risk_alerts
from flywheel.value.scoring import ScoreOptions, score
from flywheel.value.worth import ValueSettings, concentration, concentration_curve

__all__ = ["BetaGeoModel", "DataError", "GammaGammaModel", "ModifiedBetaGeoModel", "NotFittedError",
           "ParameterError", "ParetoNBDModel", "SummaryError", "calibration_and_holdout", "evaluate_holdout",
           "evaluate_transactions", "summary_from_transactions",
           "ScoreOptions", "ValueSettings", "concentration", "concentration_curve", "risk_alerts", "score"]
