"""Sending: one message (`deliver`) or many at once (`deliver_many`), with bounded retries.

A batch runs on a few SMTP connections and a pool of webhook workers, each keeping its connections
open. A failed attempt that may pass (HTTP 5xx/429/408, timeout, broken connection, SMTP 4xx) is
scheduled again after an exponential back-off while the workers go on with other messages; after
`retry.attempts` attempts it is `retry_later` (the executor retries in a later tick with the same
id). An endpoint that fails `retry.breaker` times in a row is not tried again in the batch.

Guarantees: every message gets exactly one `Outcome`, in the order given; a message is sent only
while its endpoint is enabled; all attempts of a message carry its id (webhook-id, Message-ID).
"""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
import logging
import smtplib
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from flywheel.activate.delivery.email import SmtpSession, build_email, valid_address
from flywheel.activate.delivery.message import Message, Outcome, outcome
from flywheel.activate.delivery.rules import prepared, wecom_allows
from flywheel.activate.delivery.settings import DeliverySettings
from flywheel.activate.delivery.webhook import Connections, body_of, headers_for
from flywheel.identifiers import InvalidIdentifier, normalize_phone

log = logging.getLogger(__name__)


def deliver(settings: DeliverySettings, message: Message) -> Outcome:
    """Send one message now (retrying within the settings' bounds) and say what became of it."""
    return deliver_many(settings, [message])[0]


def deliver_many(settings: DeliverySettings, messages: Iterable[Message], *, history: Iterable = (),
                 now: dt.datetime | None = None) -> list[Outcome]:
    """Send many messages concurrently; one `Outcome` per message, in order.

    `history`: messages delivered before (see `wecom_allows`), so a second WeCom mass message to a
    contact on the same Shanghai day is refused — also within the batch. `now`: the clock that day is
    taken from (the tick's `--now`; default the current time). Keep the warehouse the settings were
    loaded from open: an endpoint a 410 disables is recorded in it before this returns."""
    messages = [prepared(m) for m in messages]
    now = now or dt.datetime.now(dt.timezone.utc)
    outcomes: list[Outcome | None] = [None] * len(messages)
    seen = list(history)
    jobs: dict[str, list[_Job]] = {"email": [], "webhook": []}
    for i, m in enumerate(messages):
        early = _refused(settings, m, seen, now)
        if early is not None:
            outcomes[i] = early
            continue
        if m.channel == "wecom" and m.marketing:
            seen.append({"channel": "wecom", "to": m.to, "person_id": m.person_id, "marketing": True, "sent_at": now})
        jobs["email" if m.channel == "email" else "webhook"].append(_Job(i, m))
    breaker = _Breaker(settings.retry.breaker)
    pools = []
    if jobs["email"]:
        pools.append(_Pool(jobs["email"], settings.email_connections, outcomes,
                           lambda: SmtpSession(settings.email, settings.email.timeout),
                           lambda session, job: _email_attempt(settings, session, job, breaker)))
    if jobs["webhook"]:
        pools.append(_Pool(jobs["webhook"], settings.webhook_workers, outcomes, Connections,
                           lambda conns, job: _webhook_attempt(settings, conns, job, breaker)))
    try:
        for pool in pools:
            pool.start()
        for pool in pools:
            pool.join()
    finally:
        settings.endpoints.flush()
    done = [o for o in outcomes if o is not None]
    assert len(done) == len(messages), "every message gets an outcome"
    if done:
        log.info("delivery: %s", dict(Counter(f"{o.channel} {o.status}" for o in done)))
    return done


def _refused(settings: DeliverySettings, m: Message, seen: list, now: dt.datetime) -> Outcome | None:
    """The outcome of a message that is not sent at all, or None."""
    if (m.channel == "email" and not settings.email) or (m.channel != "email" and m.channel not in settings.webhooks):
        return outcome(m, "failed", "no_endpoint", f"channel {m.channel!r} is not in the delivery settings "
                                                   f"(configured: {', '.join(settings.channels())})")
    state = settings.endpoints.disabled(m.channel)
    if state is not None:
        return outcome(m, "endpoint_disabled", "endpoint_disabled", state.get("detail") or "")
    if not m.to:
        return outcome(m, "failed", "invalid_address", "no address")
    if m.channel == "email" and not valid_address(m.to):
        return outcome(m, "failed", "invalid_address", "not a plain e-mail address")
    if m.channel == "sms" and not _full_phone(m.to):
        return outcome(m, "failed", "invalid_address", "not a full phone number")
    refusal = wecom_allows(seen, m, now)
    if refusal is not None:
        return outcome(m, "refused", refusal.reason, refusal.detail)
    return None


def _full_phone(to: str) -> bool:
    try:
        return not normalize_phone(to).partial
    except InvalidIdentifier:
        return False


@dataclass
class _Job:
    index: int
    message: Message
    mail: bytes | None = None
    body: bytes | None = None
    attempts: int = 0


@dataclass
class _Retry:
    delay: float


class _Breaker:
    """Consecutive retryable failures per channel; past the limit the channel is not tried in this batch."""

    def __init__(self, limit: int):
        self.limit = limit
        self._failures: Counter = Counter()
        self._lock = threading.Lock()

    def open(self, channel: str) -> bool:
        return self._failures[channel] >= self.limit

    def failed(self, channel: str) -> None:
        with self._lock:
            self._failures[channel] += 1

    def ok(self, channel: str) -> None:
        if self._failures[channel]:
            with self._lock:
                self._failures[channel] = 0

    def trip(self, channel: str) -> None:
        with self._lock:
            self._failures[channel] = self.limit


@dataclass
class _Pool:
    """Workers that take due jobs from a time-ordered heap; a retry goes back in with its due time."""
    jobs: list[_Job]
    workers: int
    outcomes: list
    session: Callable[[], object]
    attempt: Callable[[object, _Job], Outcome | _Retry]
    _heap: list = field(default_factory=list)
    _pending: int = 0
    _cond: threading.Condition = field(default_factory=threading.Condition)
    _threads: list = field(default_factory=list)
    _seq: itertools.count = field(default_factory=itertools.count)
    _error: BaseException | None = None

    def start(self) -> None:
        self._heap = [(0.0, next(self._seq), job) for job in self.jobs]
        self._pending = len(self.jobs)
        for n in range(min(self.workers, len(self.jobs))):
            thread = threading.Thread(target=self._work, name=f"delivery-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def join(self) -> None:
        for thread in self._threads:
            thread.join()
        if self._error is not None:
            raise self._error

    def _next(self) -> _Job | None:
        with self._cond:
            while self._pending > 0:
                if self._heap:
                    wait = self._heap[0][0] - time.monotonic()
                    if wait <= 0:
                        return heapq.heappop(self._heap)[2]
                    self._cond.wait(wait)
                else:
                    self._cond.wait()
            return None

    def _work(self) -> None:
        session = self.session()
        try:
            while (job := self._next()) is not None:
                result = self.attempt(session, job)
                with self._cond:
                    if isinstance(result, _Retry):
                        heapq.heappush(self._heap, (time.monotonic() + result.delay, next(self._seq), job))
                    else:
                        self.outcomes[job.index] = result
                        self._pending -= 1
                    self._cond.notify_all()
        except BaseException as e:  # a bug: stop the pool rather than hang it
            with self._cond:
                self._error, self._pending = e, 0
                self._cond.notify_all()
        finally:
            session.close()


def _retry_or_give_up(settings: DeliverySettings, job: _Job, breaker: _Breaker, reason: str, detail: str,
                      retry_after: float | None = None) -> Outcome | _Retry:
    breaker.failed(job.message.channel)
    if job.attempts >= settings.retry.attempts:
        return outcome(job.message, "retry_later", reason, detail, job.attempts)
    return _Retry(settings.retry.delay(job.attempts, retry_after))


def _gate(settings: DeliverySettings, job: _Job, breaker: _Breaker) -> Outcome | None:
    """Why this attempt is not made (endpoint disabled since, or failing too often), or None."""
    m = job.message
    state = settings.endpoints.disabled(m.channel)
    if state is not None:
        return outcome(m, "endpoint_disabled", "endpoint_disabled", state.get("detail") or "", job.attempts)
    if breaker.open(m.channel):
        return outcome(m, "retry_later", "endpoint_unavailable",
                       f"{breaker.limit} failures in a row on {m.channel}; not tried again in this batch", job.attempts)
    return None


def _webhook_attempt(settings: DeliverySettings, conns: Connections, job: _Job, breaker: _Breaker) -> Outcome | _Retry:
    m = job.message
    stop = _gate(settings, job, breaker)
    if stop is not None:
        return stop
    endpoint = settings.webhooks[m.channel]
    if job.body is None:  # built by the worker, overlapping other workers' waits
        job.body = body_of(m)
    job.attempts += 1
    answer = conns.post(endpoint.url, job.body, headers_for(endpoint.key, m, job.body),
                        endpoint.timeout or settings.retry.timeout)
    status = answer.status
    if status is not None and 200 <= status < 300:
        breaker.ok(m.channel)
        return outcome(m, "delivered", "ok", answer.detail, job.attempts)
    if status == 410:
        settings.endpoints.disable(m.channel, "gone", f"{endpoint.url} answered {answer.detail}")
        return outcome(m, "endpoint_disabled", "gone", answer.detail, job.attempts)
    if answer.error == "tls_error":
        return outcome(m, "failed", "tls_error", answer.detail, job.attempts)
    if answer.error:
        return _retry_or_give_up(settings, job, breaker, answer.error, answer.detail)
    if status == 429:
        return _retry_or_give_up(settings, job, breaker, "rate_limited", answer.detail, answer.retry_after)
    if status == 408:
        return _retry_or_give_up(settings, job, breaker, "timeout", answer.detail)
    if status >= 500:
        return _retry_or_give_up(settings, job, breaker, "server_error", answer.detail, answer.retry_after)
    return outcome(m, "failed", "rejected", answer.detail + (" (redirects are not followed)" if status < 400 else ""),
                   job.attempts)


def _email_attempt(settings: DeliverySettings, session: SmtpSession, job: _Job, breaker: _Breaker) -> Outcome | _Retry:
    m = job.message
    stop = _gate(settings, job, breaker)
    if stop is not None:
        return stop
    if job.mail is None:
        job.mail = build_email(settings, m)
    job.attempts += 1
    for fresh_try in (False, True):
        reused = session.reused
        try:
            session.send(job.mail, m.to)
            breaker.ok(m.channel)
            return outcome(m, "delivered", "ok", "250", job.attempts)
        except smtplib.SMTPRecipientsRefused as e:
            code, text = next(iter(e.recipients.values()), (550, b""))
            detail = f"SMTP {code} {_text(text)}"
            if 400 <= code < 500:
                return _retry_or_give_up(settings, job, breaker, "smtp_temporary", detail)
            return outcome(m, "failed", "recipient_refused", detail, job.attempts)
        except smtplib.SMTPAuthenticationError as e:
            session.drop()
            if 400 <= e.smtp_code < 500:
                return _retry_or_give_up(settings, job, breaker, "smtp_temporary", f"SMTP {e.smtp_code} {_text(e.smtp_error)}")
            breaker.trip(m.channel)
            return outcome(m, "failed", "smtp_auth", f"SMTP {e.smtp_code} {_text(e.smtp_error)}", job.attempts)
        except smtplib.SMTPResponseException as e:
            detail = f"SMTP {e.smtp_code} {_text(e.smtp_error)}"
            if 400 <= e.smtp_code < 500:
                if isinstance(e, (smtplib.SMTPConnectError, smtplib.SMTPHeloError)):
                    session.drop()
                return _retry_or_give_up(settings, job, breaker, "smtp_temporary", detail)
            session.drop()
            return outcome(m, "failed", "smtp_permanent", detail, job.attempts)
        except smtplib.SMTPServerDisconnected as e:
            session.drop()
            if reused and not fresh_try:
                continue  # an idle connection the server had closed: once more on a new one
            return _retry_or_give_up(settings, job, breaker, "connection_error", f"SMTP disconnected: {e}")
        except TimeoutError:
            session.drop()
            return _retry_or_give_up(settings, job, breaker, "timeout", f"no answer within {settings.email.timeout:g} s")
        except ssl.SSLCertVerificationError as e:
            session.drop()
            breaker.trip(m.channel)
            return outcome(m, "failed", "tls_error", f"TLS: {e.verify_message or e}", job.attempts)
        except smtplib.SMTPNotSupportedError as e:
            session.drop()
            breaker.trip(m.channel)
            return outcome(m, "failed", "smtp_permanent", str(e), job.attempts)
        except (smtplib.SMTPException, OSError) as e:
            session.drop()
            return _retry_or_give_up(settings, job, breaker, "connection_error", f"{type(e).__name__}: {e}")
    raise AssertionError("unreachable")


def _text(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
