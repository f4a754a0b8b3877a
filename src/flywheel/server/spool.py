"""The write-ahead spool: accepted messages as JSON lines, fsync'd before the client hears 200.

Layout, next to the warehouse (`flywheel.duckdb` → `flywheel.duckdb.spool/`):

    lock                      held (flock) by the running server; others leave the spool alone
    open-<seq>.jsonl          the segment being appended to
    closed-<seq>.jsonl        rotated segments waiting for the loader; deleted once applied

Group commit: requests hand their lines to one writer thread, which writes everything that arrived
while the previous fsync ran and then fsyncs once for all of them. A segment is closed by renaming it
(and fsyncing the directory), so a crash leaves only whole segments plus at most one open one.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from flywheel.errors import FlywheelError

if TYPE_CHECKING:
    import asyncio

log = logging.getLogger(__name__)


class SpoolBusyError(FlywheelError):
    """Another process (a running `flywheel serve`) holds the spool."""


def spool_dir(db_path: Path) -> Path:
    return Path(str(db_path) + ".spool")


class SpoolLock:
    """An exclusive, non-blocking flock on `<spool>/lock`, released when the process dies."""

    def __init__(self, directory: Path):
        directory.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(directory / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self.fd)
            raise SpoolBusyError(f"{directory} is in use by a running `flywheel serve`; stop it first") from None

    def release(self) -> None:
        os.close(self.fd)


def closed_segments(directory: Path) -> list[Path]:
    """Segments waiting for the loader, oldest first; a crash's leftover open segment counts as closed."""
    return sorted(directory.glob("closed-*.jsonl")) if directory.exists() else []


def close_leftovers(directory: Path) -> None:
    """After a crash: cut a torn last line (never acknowledged) and close every open segment."""
    for path in sorted(directory.glob("open-*.jsonl")):
        data = path.read_bytes()
        whole = data[: data.rfind(b"\n") + 1]
        if len(whole) != len(data):
            with open(path, "r+b") as f:
                f.truncate(len(whole))
                os.fsync(f.fileno())
        if whole:
            path.rename(path.with_name(path.name.replace("open-", "closed-", 1)))
        else:
            path.unlink()
    _fsync_dir(directory)


class Spool:
    """Append-only, fsync'd storage of accepted lines with group commit; one writer thread.

    `await spool.append(lines)` returns once the lines are on disk. `rotate()` closes the current
    segment for the loader.
    """

    def __init__(self, directory: Path, window: float = 0.0):
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.window = window
        existing = [int(p.stem.split("-", 1)[1]) for p in directory.glob("*-*.jsonl")]
        self.seq = max(existing, default=0)
        self._pending: list[tuple[bytes, asyncio.Future | threading.Event]] = []
        self._cond = threading.Condition()
        self._rotate_wanted = False
        self._stopping = False
        self._file = self._open_next()
        self._written = 0
        self.commits = 0
        self._thread = threading.Thread(target=self._run, name="spool-writer", daemon=True)
        self._thread.start()

    def _open_next(self):
        self.seq += 1
        return open(self.directory / f"open-{self.seq:012d}.jsonl", "ab", buffering=0)

    async def append(self, lines: bytes) -> None:
        """Store `lines` (whole JSON lines) durably; resolves after the shared fsync."""
        import asyncio  # only the server appends; `events stats` reads this module without an event loop

        future = asyncio.get_running_loop().create_future()
        self._submit(lines, future)
        await future

    def append_sync(self, lines: bytes) -> None:
        done = threading.Event()
        self._submit(lines, done)
        done.wait()

    def _submit(self, lines: bytes, waiter) -> None:
        with self._cond:
            if self._stopping:
                raise SpoolBusyError("the server is shutting down")
            self._pending.append((lines, waiter))
            self._cond.notify()

    def rotate(self) -> None:
        """Close the current segment at the next commit (if it holds anything) and wait for it."""
        with self._cond:
            self._rotate_wanted = True
            self._cond.notify()
            while self._rotate_wanted and self._thread.is_alive():
                self._cond.wait(0.5)

    def close(self) -> None:
        """Commit what is pending, close the last segment and stop the writer."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self._thread.join()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._rotate_wanted and not self._stopping:
                    self._cond.wait()
            if self.window:
                time.sleep(self.window)
            with self._cond:
                batch, self._pending = self._pending, []
                rotate, stopping = self._rotate_wanted, self._stopping
            if batch:
                self._file.write(b"".join(lines for lines, _ in batch))
                os.fsync(self._file.fileno())
                self._written += sum(len(lines) for lines, _ in batch)
                self.commits += 1
                by_loop: dict = {}
                for _, waiter in batch:
                    if isinstance(waiter, threading.Event):
                        waiter.set()
                    else:
                        by_loop.setdefault(waiter.get_loop(), []).append(waiter)
                for loop, futures in by_loop.items():  # one wake-up per event loop, not per request
                    loop.call_soon_threadsafe(_resolve, futures)
            if (rotate or stopping) and not self._pending_locked():
                self._close_segment(reopen=not stopping)
                with self._cond:
                    self._rotate_wanted = False
                    self._cond.notify_all()
                if stopping:
                    return

    def _pending_locked(self) -> bool:
        with self._cond:
            return bool(self._pending)

    def _close_segment(self, reopen: bool) -> None:
        if self._written == 0 and reopen:
            return
        path = Path(self._file.name)
        self._file.close()
        if self._written:
            path.rename(path.with_name(path.name.replace("open-", "closed-", 1)))
        else:
            path.unlink()
        _fsync_dir(self.directory)
        self._written = 0
        if reopen:
            self._file = self._open_next()


def _resolve(futures: list[asyncio.Future]) -> None:
    for future in futures:
        if not future.done():
            future.set_result(None)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
