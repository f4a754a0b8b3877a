"""Collection server: Segment-compatible HTTP intake, durable (fsync'd spool) and exactly once.

Public entry points: `create_app`, `serve`, `WriteKeys`, `keys_file`, `add_source` (checked
and audited through the acting gate), `event_stats`, `recover` (loaded on first use, so
`flywheel sources list` does not import FastAPI).
"""

from flywheel.lazy import lazy_exports

_EXPORTS = {"create_app": "flywheel.server.app", "serve": "flywheel.server.app",
            "recover": "flywheel.server.loader", "WriteKeys": "flywheel.server.sources",
            "keys_file": "flywheel.server.sources", "add_source": "flywheel.server.sources",
            "event_stats": "flywheel.server.stats"}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
