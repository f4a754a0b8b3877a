"""Activation: always-current segments, lifecycle journeys and the delivery that reaches people
(docs/activation.md).

    apply_segments(gate, load_segment_files([Path("segments.yaml")]))
    refresh_segments(wh, now)        # incremental: only persons whose data or window changed
    run(gate, now)                   # one journey tick: enrol, advance, send under every guard

Delivery's entry points are in `flywheel.activate.delivery`; the most used are named here too.
"""

from flywheel.lazy import lazy_exports

_EXPORTS = {
    "RuleError": "flywheel.activate.rules", "parse_rule": "flywheel.activate.rules",
    "RuleContext": "flywheel.activate.compile", "compile_rule": "flywheel.activate.compile",
    "Segment": "flywheel.activate.segments", "SegmentError": "flywheel.activate.segments",
    "apply_segments": "flywheel.activate.segments", "load_segment_files": "flywheel.activate.segments",
    "refresh_segments": "flywheel.activate.segments", "stored_segments": "flywheel.activate.segments",
    "parse_segment": "flywheel.activate.segments", "preview_segment": "flywheel.activate.segments",
    "Message": "flywheel.activate.delivery.message", "Outcome": "flywheel.activate.delivery.message",
    "deliver": "flywheel.activate.delivery.dispatch", "deliver_many": "flywheel.activate.delivery.dispatch",
    "load_delivery": "flywheel.activate.delivery.store",
    "activation_summary": "flywheel.activate.summary", "segments_summary": "flywheel.activate.summary",
    "journeys_summary": "flywheel.activate.summary", "apply_journeys": "flywheel.activate.running",
    "run": "flywheel.activate.running", "example_journey_files": "flywheel.activate.running",
    "shipped_segments_file": "flywheel.activate.segments", "wecom_allows": "flywheel.activate.delivery.rules",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
