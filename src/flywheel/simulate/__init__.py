"""The simulated merchant: deterministic exports plus the ground truth every test grades against,
and the forward response model that says how persons react to what a journey sends them."""

from flywheel.simulate.generate import GenerateSummary, generate
from flywheel.simulate.response import (
    RESPONSE,
    Expected,
    Responder,
    Response,
    ResponseModel,
    ResponseParams,
    Touch,
    expected,
    respond,
)
from flywheel.simulate.response_orders import ResponseExport, write_orders

__all__ = ["RESPONSE", "Expected", "GenerateSummary", "Responder", "Response", "ResponseExport",
           "ResponseModel", "ResponseParams", "Touch", "expected", "generate", "respond", "write_orders"]
