"""`flywheel serve --tick-every 60s`: journeys run from the server process, without cron.

Every interval, one journey tick — the same `run` as `flywheel journey run`, at the current clock,
acting as the server's role (`--role` / FLYWHEEL_ROLE), which must hold `activate.run` (marketer,
owner, service); `check_role` refuses any other before the server starts. Ticks never overlap: this
thread runs them one after another, and the tick lock beside the warehouse keeps out a
`flywheel journey run` started by hand or another server (a busy lock, or a warehouse another process
holds, is logged and the next interval tries again). A tick that fails is logged and the loop goes on.
A tick that overruns its interval is followed at once by the next, never by a queue of missed ones.
Stopping lets a tick in progress end; even a kill loses nothing (the tick redelivers at most the batch
in flight, under the same keys).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
import time

from flywheel.config import Settings
from flywheel.errors import FlywheelError, InputError

log = logging.getLogger(__name__)

DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
SHORTEST = 1.0
"""Seconds: a tick refreshes segments and plans every journey, so shorter intervals only queue work."""


def parse_interval(text: str, option: str = "--tick-every") -> float:
    """Seconds of `60s`, `5m`, `1h` or a plain number of seconds."""
    match = DURATION.match(str(text))
    if match is None:
        raise InputError(f"{option}: a duration like 60s, 5m or 1h, not {text!r}")
    seconds = float(match[1]) * UNITS[match[2]]
    if seconds < SHORTEST:
        raise InputError(f"{option}: {text!r} is shorter than {SHORTEST:g} s")
    return seconds


def check_role(settings: Settings) -> None:
    """Refuse, before anything starts, a server role that may not run journeys (`NotPermitted`)."""
    from flywheel.privacy.roles import actor_for

    actor = actor_for(settings)
    actor.require("activate.run")
    actor.require("contacts.deliver")


class TickScheduler:
    """A thread of the server that runs one journey tick every `every` seconds until `stop`."""

    def __init__(self, settings: Settings, every: float):
        self.settings, self.every = settings, every
        self.ticks = 0
        """Ticks that completed."""
        self.failures = 0
        """Ticks that failed or found the lock or the warehouse busy."""
        self.last: dict | None = None
        """The last completed tick's `journey run --json` payload."""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        check_role(self.settings)
        self._thread = threading.Thread(target=self._loop, name="journey-ticks", daemon=True)
        self._thread.start()
        log.info("journey ticks every %g s as role %s", self.every, self.settings.role)

    def stop(self, wait: float = 600.0) -> None:
        """Ask the loop to end and wait (up to `wait` s) for a tick in progress to finish."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(wait)
            if self._thread.is_alive():
                log.warning("a journey tick was still running after %g s; leaving it to the process exit", wait)
            self._thread = None

    def _loop(self) -> None:
        due = time.monotonic() + self.every
        while not self._stop.wait(max(0.0, due - time.monotonic())):
            self.tick()
            due = max(due + self.every, time.monotonic())

    def tick(self) -> dict | None:
        """One tick now; its payload, or None when it failed or could not run (logged)."""
        from flywheel.activate.running import run
        from flywheel.activate.tick import TickBusy
        from flywheel.privacy import Gate
        from flywheel.server.loader import is_lock_conflict, open_when_free

        now = dt.datetime.now(dt.timezone.utc)
        try:
            with open_when_free(self.settings, wait=min(30.0, self.every)) as wh, \
                    Gate.open(self.settings, wh, "serve --tick-every") as gate:
                result = run(gate, now)
        except TickBusy as e:
            self.failures += 1
            log.warning("journey tick at %s skipped: %s", now.isoformat(timespec="seconds"), e)
            return None
        except FlywheelError as e:
            self.failures += 1
            log.error("journey tick at %s failed: %s", now.isoformat(timespec="seconds"), e)
            return None
        except Exception as e:  # the loop outlives any one tick; the traceback is for the operator
            self.failures += 1
            if is_lock_conflict(e):
                log.warning("journey tick at %s skipped: the warehouse is busy (another process writes)",
                            now.isoformat(timespec="seconds"))
            else:
                log.exception("journey tick at %s failed", now.isoformat(timespec="seconds"))
            return None
        self.ticks += 1
        self.last = result.as_dict()
        sent = sum(sum(j["sent"].values()) for j in self.last["journeys"])
        log.info("journey tick at %s: %d journeys, %d sent", now.isoformat(timespec="seconds"),
                 len(self.last["journeys"]), sent)
        return self.last
