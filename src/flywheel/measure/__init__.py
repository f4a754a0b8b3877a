"""Measurement: what each channel's touches are credited with (docs/measurement.md).

    paths = read_path_file(Path("paths.csv"), "path", "total_conversions", null_col="total_null")
    attribute(paths, "markov", order=2)      # exact removal effects of an order-2 chain
    MarkovModel(order=1).fit(paths).removal_effects_
    analyze(read_summary(Path("results.csv")), method="sequential")   # experiment statistics
    recommend(read_arms(Path("arms.csv")), floor=0.01)                 # tomorrow's budget shares
    run_attribution(wh, Window(as_of=now))    # every model over the warehouse's paths, stored
    channel_report(wh)                        # CAC, ROI, LTV:CAC per channel and the advisor's notes
    analyze_experiment(wh, "journey:community_winback")   # a journey's holdout, as an experiment
"""

from flywheel.lazy import lazy_exports

_EXPORTS = {
    "Paths": "flywheel.measure.paths", "read_path_file": "flywheel.measure.paths",
    "MarkovModel": "flywheel.measure.markov",
    "MODELS": "flywheel.measure.models", "attribute": "flywheel.measure.models",
    "shapley_simplified": "flywheel.measure.models", "shapley_exact": "flywheel.measure.models",
    "analyze": "flywheel.measure.experiments", "read_summary": "flywheel.measure.experiments",
    "recommend": "flywheel.measure.budget", "read_arms": "flywheel.measure.budget",
    "Window": "flywheel.measure.touches", "run_attribution": "flywheel.measure.runs",
    "latest_run": "flywheel.measure.runs", "default_as_of": "flywheel.measure.runs",
    "AdvisorRules": "flywheel.measure.economics", "channel_report": "flywheel.measure.economics",
    "warehouse_arms": "flywheel.measure.economics",
    "create_experiment": "flywheel.measure.registry", "list_experiments": "flywheel.measure.registry",
    "analyze_experiment": "flywheel.measure.registry", "experiment": "flywheel.measure.registry",
    "record_exposures": "flywheel.measure.registry", "parse_models": "flywheel.measure.runs",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
