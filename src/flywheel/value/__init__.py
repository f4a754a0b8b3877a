"""Customer value: lifetime-value models now; traits and tiers join later."""

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

__all__ = ["BetaGeoModel", "DataError", "GammaGammaModel", "ModifiedBetaGeoModel", "NotFittedError",
           "ParameterError", "ParetoNBDModel", "SummaryError", "calibration_and_holdout", "evaluate_holdout",
           "evaluate_transactions", "summary_from_transactions"]
