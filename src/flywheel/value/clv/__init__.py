"""Buy-till-you-die lifetime-value models written on numpy/scipy and checked against CDNOW."""

from flywheel.value.clv.base import DataError, NotFittedError, ParameterError
from flywheel.value.clv.beta_geo import BetaGeoModel, ModifiedBetaGeoModel
from flywheel.value.clv.evaluate import evaluate_holdout, evaluate_transactions
from flywheel.value.clv.gamma_gamma import GammaGammaModel
from flywheel.value.clv.pareto import ParetoNBDModel
from flywheel.value.clv.scoring import SCORE_COLUMNS, score_customers
from flywheel.value.clv.simulate import simulate_bgnbd, simulate_gamma_gamma, simulate_pareto_nbd
from flywheel.value.clv.summary import (
           SummaryError,
           calibration_and_holdout,
           summary_from_transactions,
)

__all__ = [
           "BetaGeoModel",
           "DataError",
           "GammaGammaModel",
           "ModifiedBetaGeoModel",
           "NotFittedError",
           "ParameterError",
           "ParetoNBDModel",
           "SCORE_COLUMNS",
           "SummaryError",
           "calibration_and_holdout",
           "evaluate_holdout",
           "evaluate_transactions",
           "score_customers",
           "simulate_bgnbd",
           "simulate_gamma_gamma",
           "simulate_pareto_nbd",
           "summary_from_transactions",
]
