"""Sending what is due, with every guard applied at the moment of sending.

Guards, in order, each with a reason code: the episode has left the journey (`exited`), the person is
gone (`person_gone`), consent for the step's purpose (`no_consent`), quiet hours in the person's time
zone (deferred, `quiet_hours`), the channel's own limit (`wecom_daily_limit`), cross-journey
frequency caps per channel (`capped`: skipped or deferred), an address on the channel
(`no_address`, known without opening one). Only then are the addresses of what goes out opened, for
the sender. Then the message is delivered; a failed delivery that may succeed later stays
planned with a later `scheduled_at`, for
at most four more ticks (5 min, 30 min, 2 h, 12 h later); then it fails as `retries_exhausted` rather
than arriving days late.

Invariant: an action is marked `sending` (committed) before its side effect and `sent` after, and
its key is the message's idempotency key (`webhook-id`, the e-mail's Message-ID), so a run killed at
any point and run again delivers each action at most once more, under the same key, which receivers
deduplicate.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import ibis
import pyarrow as pa

from flywheel.activate.advance import next_local

RETRY_BACKOFF = (dt.timedelta(minutes=5), dt.timedelta(minutes=30), dt.timedelta(hours=2), dt.timedelta(hours=12))
WECOM_ZONE = ZoneInfo("Asia/Shanghai")
DEFAULT_QUIET = "21:00-08:00"


@dataclass(frozen=True)
class Guards:
    """The delivery settings' guard part: quiet hours, caps and what to do at a cap."""

    quiet_hours: dict[str, str] = field(default_factory=lambda: {"marketing": DEFAULT_QUIET})
    caps: dict[str, dict[str, int]] = field(default_factory=dict)
    on_cap: str = "skip"


@dataclass
class Tally:
    sent: Counter = field(default_factory=Counter)
    skipped: Counter = field(default_factory=Counter)
    deferred: Counter = field(default_factory=Counter)
    failed: Counter = field(default_factory=Counter)


def quiet_window(text: str) -> tuple[dt.time, dt.time]:
    start, _, end = text.partition("-")
    return dt.time.fromisoformat(start.strip()), dt.time.fromisoformat(end.strip())


def in_quiet(local: dt.datetime, window: tuple[dt.time, dt.time]) -> bool:
    start, end = window
    t = local.time()
    return (start <= t or t < end) if start > end else (start <= t < end)


def _local_day(instant: dt.datetime, zone: ZoneInfo) -> dt.date:
    return instant.astimezone(zone).date()


class Outbox:
    """Guards and delivers the due actions of one tick."""

    def __init__(self, wh, now: dt.datetime, guards: Guards, zones: dict[str, str], addresses,
                 merchant_zone: str):
        self.wh, self.now, self.guards, self.zones = wh, now, guards, zones
        self.addresses = addresses
        self.merchant_zone = merchant_zone
        self.tally: dict[str, Tally] = defaultdict(Tally)
        self.updates: list[dict] = []
        self.to_send: list[tuple[dict, str]] = []

    def due(self, journeys: list[str]) -> list[dict]:
        a = self.wh.table("journey_actions")
        due = a.filter(a.status.isin(["planned", "sending"]) & (a.scheduled_at <= self.now) & a.journey.isin(journeys))
        return self.wh.fetch(due.order_by(["scheduled_at", "action_key"])).to_pylist()

    def history(self, persons: list[str]) -> dict[tuple[str, str], list[dt.datetime]]:
        """Sent times per (person, channel) in the last 8 days, every journey (caps are cross-journey)."""
        if not persons:
            return {}
        a = self.wh.table("journey_actions")
        since = self.now - dt.timedelta(days=8)
        wanted = ibis.memtable({"person_id": sorted(set(persons))}, schema={"person_id": "string"})
        sent = a.filter((a.status == "sent") & (a.sent_at > since) & a.marketing.fill_null(True))
        rows = self.wh.fetch(sent.semi_join(wanted, "person_id").select("person_id", "channel", "sent_at"))
        found: dict[tuple[str, str], list[dt.datetime]] = defaultdict(list)
        for r in rows.to_pylist():
            found[(r["person_id"], r["channel"])].append(r["sent_at"])
        return found

    def guard(self, actions: list[dict], cancelled: set[tuple], allowed: dict[str, set[str]],
              present: set[str]) -> None:
        """Apply the guards; what may go out lands in `to_send`, the rest in `updates`."""
        persons = sorted({a["person_id"] for a in actions})
        history = self.history(persons)
        on_channel: dict[str, set[str]] = defaultdict(set)
        for a in actions:
            on_channel[a["channel"]].add(a["person_id"])
        reachable = {channel: self.addresses.reachable(channel, sorted(ps)) for channel, ps in on_channel.items()}
        for a in actions:
            tally = self.tally[a["journey"]]
            reason = None
            if (a["journey"], a["person_id"], a["episode"]) in cancelled:
                reason = "exited"
            elif a["person_id"] not in present:
                reason = "person_gone"
            elif a["person_id"] not in allowed.get(a["purpose"], set()):
                reason = "no_consent"
            if reason:
                self._finish(a, "skipped", reason, tally)
                continue
            zone = ZoneInfo(self.zones.get(a["person_id"], self.merchant_zone))
            if a["marketing"] is not False:
                later = self._quiet_until(a, zone)
                if later is not None:
                    self._defer(a, later, "quiet_hours", tally)
                    continue
                sent_before = history.get((a["person_id"], a["channel"]), [])
                if a["channel"] == "wecom" and any(_local_day(t, WECOM_ZONE) == _local_day(self.now, WECOM_ZONE)
                                                   for t in sent_before):
                    self._finish(a, "skipped", "wecom_daily_limit", tally)
                    continue
                capped_until = self._cap(a, sent_before, zone)
                if capped_until is not None:
                    if self.guards.on_cap == "defer":
                        self._defer(a, capped_until, "capped", tally)
                    else:
                        self._finish(a, "skipped", "capped", tally)
                    continue
            if a["person_id"] not in reachable[a["channel"]]:
                self._finish(a, "skipped", "no_address", tally)
                continue
            history.setdefault((a["person_id"], a["channel"]), []).append(self.now)  # counts toward caps now
            self.to_send.append((a, None))

    def open_addresses(self) -> None:
        """Open the addresses of what goes out, one audited batch per channel and purpose; an address
        gone since `guard` (erased meanwhile) fails the action as `no_address`."""
        wanted: dict[tuple[str, str], set[str]] = defaultdict(set)
        for a, _ in self.to_send:
            wanted[(a["channel"], a["purpose"])].add(a["person_id"])
        opened = {key: self.addresses.open(key[0], sorted(ps), purpose=key[1]) for key, ps in wanted.items()}
        ready = []
        for a, _ in self.to_send:
            address = opened[(a["channel"], a["purpose"])].get(a["person_id"])
            if address:
                ready.append((a, address))
            else:
                self._finish(a, "failed", "no_address", self.tally[a["journey"]])
        self.to_send = ready

    def delivered(self, a: dict, status: str, why: str | None) -> None:
        """Record what delivery of one `to_send` action gave: sent, retry (later) or failed."""
        tally = self.tally[a["journey"]]
        if status == "sent":
            self._finish(a, "sent", None, tally)
        elif status == "retry":
            attempts = int(a["attempts"] or 0) + 1
            if attempts > len(RETRY_BACKOFF):
                a.update(attempts=attempts - 1)
                self._finish(a, "failed", "retries_exhausted", tally)
                return
            a.update(attempts=attempts)
            self._defer(a, self.now + RETRY_BACKOFF[attempts - 1], why or "retry", tally, count=False)
        else:
            self._finish(a, "failed", why, tally)

    def _quiet_until(self, a: dict, zone: ZoneInfo) -> dt.datetime | None:
        hours = self.guards.quiet_hours
        text = hours[a["channel"]] if a["channel"] in hours else hours.get("marketing")
        if not text:
            return None
        window = quiet_window(text)
        if not in_quiet(self.now.astimezone(zone), window):
            return None
        return next_local(self.now, window[1], zone)

    def _cap(self, a: dict, sent: list[dt.datetime], zone: ZoneInfo) -> dt.datetime | None:
        cap = self.guards.caps.get(a["channel"]) or {}
        day = cap.get("per_day")
        if day is not None:
            today = [t for t in sent if _local_day(t, zone) == _local_day(self.now, zone)]
            if len(today) >= day:
                return next_local(self.now, dt.time(0, 0), zone)
        week = cap.get("per_week")
        if week is not None:
            recent = sorted(t for t in sent if t > self.now - dt.timedelta(days=7))
            if len(recent) >= week:
                return recent[len(recent) - week] + dt.timedelta(days=7)
        return None

    def _finish(self, a: dict, status: str, reason: str | None, tally: Tally) -> None:
        a.update(status=status, reason=reason, sent_at=self.now if status == "sent" else a.get("sent_at"),
                 attempts=int(a.get("attempts") or 0) + (1 if status in ("sent", "failed") else 0))
        getattr(tally, {"sent": "sent", "skipped": "skipped", "failed": "failed"}[status])[
            a["channel"] if status == "sent" else (reason or status)] += 1
        self.updates.append(a)

    def _defer(self, a: dict, until: dt.datetime, reason: str, tally: Tally, count: bool = True) -> None:
        a.update(status="planned", scheduled_at=until, reason=reason,
                 deferrals=int(a.get("deferrals") or 0) + (1 if count else 0))
        tally.deferred[reason] += 1
        self.updates.append(a)


def allowed_by_purpose(wh, actions: list[dict]) -> dict[str, set[str]]:
    """The persons of `actions` whose consent allows each purpose now (the ledger, never a copy)."""
    from flywheel.privacy import only_allowed

    found: dict[str, set[str]] = {}
    by_purpose: dict[str, set[str]] = defaultdict(set)
    for a in actions:
        by_purpose[a["purpose"]].add(a["person_id"])
    for purpose, persons in by_purpose.items():
        people = ibis.memtable({"person_id": sorted(persons)}, schema={"person_id": "string"})
        found[purpose] = set(wh.fetch(only_allowed(wh, people, purpose).select("person_id")).column(0).to_pylist())
    return found


def as_table(rows: list[dict], wh, name: str) -> pa.Table:
    from flywheel.schema import table as catalog_table

    names = catalog_table(name).names
    return wh.conform(name, pa.Table.from_pylist([{k: r.get(k) for k in names} for r in rows]))
