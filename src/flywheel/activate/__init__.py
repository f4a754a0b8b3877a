"""Activation: always-current segments (and, next, lifecycle journeys and delivery).

    segments = load_segment_files([Path("segments.yaml")])
    apply_segments(wh, segments, actor="ana")
    refresh_segments(wh, now)        # incremental: only persons whose data or window changed
"""

from flywheel.lazy import lazy_exports

_EXPORTS = {
    "RuleError": "flywheel.activate.rules", "parse_rule": "flywheel.activate.rules",
    "RuleContext": "flywheel.activate.compile", "compile_rule": "flywheel.activate.compile",
    "Segment": "flywheel.activate.segments", "SegmentError": "flywheel.activate.segments",
    "apply_segments": "flywheel.activate.segments", "load_segment_files": "flywheel.activate.segments",
    "refresh_segments": "flywheel.activate.segments", "stored_segments": "flywheel.activate.segments",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
