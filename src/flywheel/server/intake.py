"""Collection as one call: a request in, durable spooled messages out — shared by the HTTP routes.

`Intake.collect` authenticates the write key, applies the Segment rules, drops messageIds seen in the
last 7 days, appends the rest to the spool and returns only after the spool's fsync. The in-memory
index is a fast path; the warehouse's one-row-per-messageId key is what makes loading exactly once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from flywheel.config import Settings
from flywheel.jsoncodec import dumps
from flywheel.server.loader import DEDUPE_DAYS, Loader, open_when_free, recent_message_ids, recover
from flywheel.server.loadworker import LoadWorker
from flywheel.server.rules import CollectError, accept, decode, received_now, write_key
from flywheel.server.sources import WriteKeys, keys_file
from flywheel.server.spool import Spool, SpoolLock, close_leftovers, spool_dir

log = logging.getLogger(__name__)


class RecentIds:
    """messageIds accepted recently, oldest first; entries older than `days` or beyond `limit` drop out."""

    def __init__(self, days: int = DEDUPE_DAYS, limit: int = 5_000_000):
        self.seconds, self.limit = days * 86_400, limit
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._seen)

    def new(self, ids: list[str]) -> list[bool]:
        """Whether each id is new (not seen, nor earlier in `ids`); does not record them."""
        seen, fresh, out = self._seen, set(), []
        for i in ids:
            ok = i not in seen and i not in fresh
            fresh.add(i)
            out.append(ok)
        return out

    def forget(self, ids) -> None:
        with self._lock:
            for i in ids:
                self._seen.pop(i, None)

    def add(self, ids, at: float | None = None) -> None:
        at = time.time() if at is None else at
        with self._lock:
            for i in ids:
                self._seen[i] = at
            cutoff = at - self.seconds
            while self._seen and (len(self._seen) > self.limit or next(iter(self._seen.values())) < cutoff):
                self._seen.popitem(last=False)


@dataclass
class Outcome:
    accepted: int
    duplicates: int
    rejected: list[dict]


class Intake:
    """The running collector: write keys, spool, dedupe index and loader, started and stopped together."""

    def __init__(self, settings: Settings, load_interval: float = 1.0, commit_window: float = 0.0,
                 loader_process: bool = False):
        self.settings = settings
        self.zone = settings.tz
        self.keys = WriteKeys(keys_file(settings.db_path))
        self.directory = spool_dir(settings.db_path)
        self.load_interval, self.commit_window = load_interval, commit_window
        self.loader_process = loader_process
        self.recent = RecentIds()
        self.spool: Spool | None = None
        self.loader: Loader | None = None
        self._lock: SpoolLock | None = None

    def start(self) -> None:
        """Load leftovers of a previous run, seed the dedupe index, start the spool and the loader."""
        recover(self.settings)
        self._lock = SpoolLock(self.directory)
        close_leftovers(self.directory)
        with open_when_free(self.settings) as wh:
            self.recent.add(recent_message_ids(wh))
        self.spool = Spool(self.directory, window=self.commit_window)
        apply = LoadWorker(self.settings) if self.loader_process else None
        self.loader = Loader(self.settings, self.spool, self.load_interval, apply)
        self.loader.start()
        log.info("collecting into %s (spool %s)", self.settings.db_path, self.directory)

    def stop(self) -> None:
        """Drain: commit pending lines, load every segment, release the spool."""
        if self.spool is not None:
            self.spool.close()
        if self.loader is not None:
            self.loader.stop()
        if self._lock is not None:
            self._lock.release()
        self.spool = self.loader = self._lock = None

    async def collect(self, call: str, body: bytes, authorization: str | None, encoding: str | None) -> Outcome:
        """Accept one `/v1/<call>` request; returns after its new messages are fsync'd to the spool.

        Runs on the event loop without awaiting until the spool append, so checking and recording
        messageIds is atomic. A request whose messages are all duplicates still waits for the next
        commit: its first copy may be in the commit under way, and 200 must mean "on disk".
        """
        payload, size = decode(body, encoding)
        source = self.keys.source_for(write_key(authorization, payload))
        if source is None:
            raise CollectError(401, "invalid_write_key",
                               "missing or unknown write key (HTTP Basic user name or `writeKey` in the body)")
        if self.spool is None:
            raise CollectError(503, "not_running", "the collector is not running")
        messages, rejected = accept(call, payload, size, source, received_now(self.zone))
        fresh = self.recent.new([m["messageId"] for m in messages])
        kept = [m for m, ok in zip(messages, fresh) if ok]
        ids = [m["messageId"] for m in kept]
        self.recent.add(ids)
        try:
            await self.spool.append(b"".join(dumps(m) + b"\n" for m in kept))
        except BaseException:
            self.recent.forget(ids)
            raise
        return Outcome(len(kept), len(messages) - len(kept), rejected)
