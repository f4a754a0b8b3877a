"""The simulated merchant: deterministic exports plus the ground truth every test grades against."""

from flywheel.simulate.generate import GenerateSummary, generate

__all__ = ["GenerateSummary", "generate"]
