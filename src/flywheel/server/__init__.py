"""Collection server: Segment-compatible HTTP intake, durable (fsync'd spool) and exactly once.

Public entry points: `create_app`, `serve`, `WriteKeys`, `event_stats`, `recover`.
"""

from flywheel.server.app import create_app, serve
from flywheel.server.loader import recover
from flywheel.server.sources import WriteKeys, keys_file
from flywheel.server.stats import event_stats

__all__ = ["WriteKeys", "create_app", "event_stats", "keys_file", "recover", "serve"]
