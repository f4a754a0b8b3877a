"""The loader's own process: applies spool segments to the warehouse outside the server's process.

Loading is heavy Python and DuckDB work; in the server's process it would take the GIL from the event
loop for tens of milliseconds at a time, and every request waiting behind it sees that as latency.
So `flywheel serve` runs loading here: the server's loader thread writes one line per cycle (the
seconds this cycle may wait for a busy warehouse) and reads one JSON line back. The worker exits when
its stdin closes — also when the server is killed, after finishing the cycle it is in. Every cycle
opens the warehouse and closes it again, so other processes can use it between cycles.

    python -c 'from flywheel.server.loadworker import main; main()' '{"db_path": …, "engine": …, …}'

(Not `python -m`: the package imports this module first, and runpy warns when it runs it again.)
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

from flywheel.config import Settings
from flywheel.errors import FlywheelError

log = logging.getLogger(__name__)


WORKER = "from flywheel.server.loadworker import main; main()"


class LoadWorkerError(FlywheelError):
    """The loader process failed or died; segments stay spooled for the next cycle."""


def apply_once(settings: Settings, wait: float) -> dict:
    """One load cycle in this process: `{"loaded", "quarantined"}` or `{"error": "busy"|"failed", …}`."""
    from flywheel.server.loader import apply_segments, closed_segments, is_lock_conflict, open_when_free
    from flywheel.server.spool import spool_dir

    directory = spool_dir(settings.db_path)
    try:
        if not closed_segments(directory):
            return {"loaded": 0, "quarantined": 0}
        with open_when_free(settings, wait) as wh:
            loaded, quarantined = apply_segments(wh, directory)
        return {"loaded": loaded, "quarantined": quarantined}
    except Exception as e:  # reported to the server, which counts it and retries next cycle
        busy = is_lock_conflict(e)
        if not busy:
            log.exception("loading the spool failed; segments are kept and retried")
        return {"error": "busy" if busy else "failed", "message": str(e)[:500]}


class LoadWorker:
    """The server-side handle: starts the worker process on first use, one request at a time."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._proc: subprocess.Popen | None = None

    def __call__(self, wait: float) -> dict:
        if self._proc is None or self._proc.poll() is not None:
            self._proc = subprocess.Popen([sys.executable, "-c", WORKER, _encode(self.settings)],
                                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        try:
            self._proc.stdin.write(f"{wait}\n")
            self._proc.stdin.flush()
            answer = self._proc.stdout.readline()
        except (BrokenPipeError, OSError) as e:
            raise LoadWorkerError(f"the loader process is gone: {e}") from None
        if not answer:
            raise LoadWorkerError(f"the loader process exited (code {self._proc.wait()})")
        return json.loads(answer)

    def close(self) -> None:
        if self._proc is not None:
            self._proc.stdin.close()
            self._proc.wait(120)
            self._proc = None


def _encode(settings: Settings) -> str:
    return json.dumps({k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(settings).items()})


def _decode(text: str) -> Settings:
    fields = {f.name: f.type for f in dataclasses.fields(Settings)}
    values = json.loads(text)
    return Settings(**{k: Path(v) if "Path" in str(fields[k]) else v for k, v in values.items()})


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="flywheel loader: %(message)s")
    settings = _decode(sys.argv[1])
    try:
        for line in sys.stdin:
            sys.stdout.write(json.dumps(apply_once(settings, float(line))) + "\n")
            sys.stdout.flush()
    except BrokenPipeError:  # the server was killed mid-cycle: the cycle is done, nobody is left to tell
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nor to flush to at exit


