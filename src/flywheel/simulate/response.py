"""The forward response model: how persons order after the simulated period, with and without touches.

A person's orders from the end of the period on have two independent parts:

- **baseline**: the person's own buy-till-you-die process continued — an alive person keeps buying at
  rate λ per day (shaped by the hour-of-day profile of the period's orders) and drops out after each
  purchase with probability p; dropped-out persons and never-buyers do not buy. It is drawn from
  (seed, person) alone, so it is the same whether or not the person is treated: a holdout and a
  treated person differ by the treatment only (common random numbers);
- **incremental**: each touch (a message on a channel, optionally with an offer) is read with a
  channel's probability and, if read, causes an extra order within `window_days` with probability
  `conversion[offer] × state_effect[state]`. A person places at most one incremental order (the
  earliest caused one), so touches combine as a noisy OR.

A coupon is used by the order it caused (in the brand's own shop, with its code); when it caused
none, a baseline order placed while it is valid uses it with probability `coupon_deadweight` — a
redemption that costs money and caused nothing. `expected()` gives the exact probabilities of the
model for any window, so a measured lift can be compared with the truth.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

from flywheel.errors import InputError
from flywheel.simulate.catalog import PERIOD_END, TRUE_PARAMS, UTC_OFFSET_HOURS
from flywheel.simulate.purchases import _HOURS

START = (PERIOD_END - timedelta(hours=UTC_OFFSET_HOURS)).replace(tzinfo=timezone.utc)
"""The end of the simulated period (merchant-local midnight), where the response model starts."""
CHANNELS = ("wecom", "sms", "email")
OFFERS = ("message", "coupon", "reward")
STATES = ("active", "lapsed", "never_buyer")
_HOUR_KNOTS = np.arange(25) / 24
_HOUR_CUM = np.concatenate([[0.0], np.cumsum(_HOURS / _HOURS.sum())])


@dataclass
class ResponseParams:
    """The true parameters, written to `truth/response.json`."""

    window_days: float = 7.0
    """An incremental order follows its touch within this many days, or not at all."""
    delay_days: dict[str, float] = field(default_factory=lambda: {"wecom": 1.0, "sms": 0.5, "email": 1.5})
    """Mean delay from touch to incremental order (exponential, truncated at `window_days`)."""
    wecom_read_base: float = 0.25
    """A WeCom message is read with `wecom_read_base + (1 - base) × read_p_end` (truth/community.csv):
    a rep's 1:1 message reaches more than mass content, and habitual readers read it most."""
    read: dict[str, dict[str, float]] = field(default_factory=lambda: {
        "sms": {"CN": 0.45, "EU": 0.3, "US": 0.3}, "email": {"CN": 0.12, "EU": 0.22, "US": 0.22}})
    """Chance an SMS or e-mail is read, by region."""
    conversion: dict[str, float] = field(default_factory=lambda: {"message": 0.05, "coupon": 0.15,
                                                                  "reward": 0.08})
    """Chance that a read touch causes an incremental order, by offer (care message / reminder: message)."""
    state_effect: dict[str, float] = field(default_factory=lambda: {"active": 1.0, "lapsed": 0.5,
                                                                    "never_buyer": 0.3})
    """Multiplier by the person's true state at the period's end: still alive in the purchase
    process (active), dropped out (lapsed), or never bought."""
    coupon_deadweight: float = 0.6
    """Chance that a baseline order placed while a read, unused coupon is valid uses it."""

    def as_json(self) -> dict:
        return {"start": START.isoformat().replace("+00:00", "Z"), **asdict(self),
                "baseline": "purchase process of truth/params.json continued: rate purchase_rate per "
                            "day, dropout dropout_p after each purchase, value Gamma(spend_p, "
                            "spend_nu) yuan; dropped-out and never-buyers do not buy",
                "combination": "noisy OR: at most one incremental order per person, the earliest caused"}

    @classmethod
    def from_json(cls, record: dict) -> ResponseParams:
        return cls(**{k: record[k] for k in cls.__dataclass_fields__ if k in record})


RESPONSE = ResponseParams()


@dataclass(frozen=True)
class Responder:
    """What a person's response depends on, from truth/persons.csv and truth/community.csv."""

    person_id: str
    region: str
    rate: float
    dropout_p: float
    spend_scale: float
    alive: bool
    state: str
    wecom_read_p: float | None = None
    """Their `read_p_end` if a WeCom contact; None means WeCom cannot reach them."""

    @property
    def n(self) -> int:
        return int(self.person_id[1:]) - 1


@dataclass(frozen=True)
class Touch:
    """One message that reached a person's channel: when (tz-aware), where, and with what offer."""

    at: datetime
    channel: str
    offer: str = "message"
    key: str = ""
    """The send's idempotency key; it seeds this touch's draws (default: time, channel, offer)."""
    coupon_code: str = ""
    coupon_cents: int = 0
    min_order_cents: int = 0
    valid_days: float = 7.0

    def draw_key(self) -> str:
        return self.key or f"{self.at.isoformat()}|{self.channel}|{self.offer}|{self.coupon_code}"


@dataclass(frozen=True)
class Response:
    """One order after the period: `cents` before any coupon, `discount_cents` off it."""

    person_id: str
    at: datetime
    cents: int
    cause: str
    """`baseline`, or the `key` of the touch that caused it."""
    discount_cents: int = 0
    coupon_code: str = ""
    touch: Touch | None = None

    @property
    def paid_cents(self) -> int:
        return self.cents - self.discount_cents


@dataclass(frozen=True)
class Expected:
    """Exact probabilities of the model for one person and window."""

    baseline: float
    """P(at least one baseline order in the window)."""
    incremental: float
    """P(the person's incremental order falls in the window)."""

    @property
    def converted(self) -> float:
        """P(at least one order in the window) with the touches."""
        return 1 - (1 - self.baseline) * (1 - self.incremental)

    @property
    def lift(self) -> float:
        """How much the touches raise the chance of ordering in the window."""
        return self.converted - self.baseline


def _days(at: datetime) -> float:
    if at.tzinfo is None:
        raise InputError(f"time {at.isoformat()} has no time zone")
    return (at - START).total_seconds() / 86400


def _activity(days: float) -> float:
    """Clock days since START → purchase-activity days (the hour-of-day profile integrated)."""
    whole = math.floor(days)
    return whole + float(np.interp(days - whole, _HOUR_KNOTS, _HOUR_CUM))


def _clock(activity: float) -> float:
    whole = math.floor(activity)
    return whole + float(np.interp(activity - whole, _HOUR_CUM, _HOUR_KNOTS))


def _rng(seed: int, person: Responder, key: str) -> np.random.Generator:
    digest = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big")
    return np.random.default_rng([seed, person.n, digest & 0xFFFFFFFF, digest >> 32])


def _cents(rng: np.random.Generator, person: Responder) -> int:
    return max(990, int(round(rng.gamma(TRUE_PARAMS.p, 1.0 / person.spend_scale) * 100)))


def baseline(person: Responder, until: datetime, seed: int) -> list[Response]:
    """The person's own orders from START until `until`; the same draws whatever `until` is."""
    if not person.alive or person.state == "never_buyer" or person.rate <= 0:
        return []
    rng, horizon = _rng(seed, person, "baseline"), _days(until)
    out, activity = [], 0.0
    while True:
        activity += rng.exponential(1.0 / person.rate)
        cents, drop = _cents(rng, person), rng.random() < person.dropout_p
        day = _clock(activity)
        if day >= horizon:
            return out
        out.append(Response(person.person_id, START + timedelta(days=day), cents, "baseline"))
        if drop:
            return out


def read_p(person: Responder, channel: str, params: ResponseParams = RESPONSE) -> float:
    """Chance that a message on `channel` is read by the person."""
    if channel == "wecom":
        if person.wecom_read_p is None:
            return 0.0
        return params.wecom_read_base + (1 - params.wecom_read_base) * person.wecom_read_p
    if channel not in params.read:
        raise InputError(f"unknown channel {channel!r}; the response model knows {', '.join(CHANNELS)}")
    return params.read[channel].get(person.region, 0.0)


def cause_p(person: Responder, touch: Touch, params: ResponseParams = RESPONSE) -> float:
    """Chance that the touch causes an incremental order (read × convert), ignoring other touches."""
    if touch.offer not in params.conversion:
        raise InputError(f"unknown offer {touch.offer!r}; the response model knows {', '.join(OFFERS)}")
    return read_p(person, touch.channel, params) * params.conversion[touch.offer] * \
        params.state_effect[person.state]


def _window(touch: Touch, params: ResponseParams) -> float:
    """Days after the touch in which it can cause an order (a coupon also only while valid)."""
    if touch.offer == "coupon":
        return min(params.window_days, touch.valid_days)
    return params.window_days


def _delay_cdf(days: float, touch: Touch, params: ResponseParams) -> float:
    """P(the delay from touch to the order it causes is below `days`)."""
    if days <= 0:
        return 0.0
    tau, window = params.delay_days[touch.channel], _window(touch, params)
    return min(1.0, (1 - math.exp(-days / tau)) / (1 - math.exp(-window / tau)))


def respond(person: Responder, touches: Sequence[Touch], until: datetime, seed: int,
            params: ResponseParams = RESPONSE) -> list[Response]:
    """Every order of `person` from START until `until`, given the touches they received.

    Deterministic: baseline draws depend on (seed, person), each touch's on (seed, person, its key),
    so adding a touch never changes the baseline or another touch's outcome.
    """
    for touch in touches:
        if _days(touch.at) < 0:
            raise InputError(f"touch at {touch.at.isoformat()} is before the response model starts "
                             f"({START.isoformat()}): the period's orders are already in the exports")
    caused: list[tuple[float, Touch, int]] = []
    coupon_rolls = {}
    for touch in touches:
        rng = _rng(seed, person, touch.draw_key())
        read_roll, convert_roll, delay_roll, deadweight_roll = rng.random(4)
        cents = _cents(rng, person)
        read = read_roll < read_p(person, touch.channel, params)
        if read and touch.offer == "coupon":
            coupon_rolls[touch.draw_key()] = deadweight_roll
        if read and convert_roll < params.conversion[touch.offer] * params.state_effect[person.state]:
            tau, window = params.delay_days[touch.channel], _window(touch, params)
            delay = -tau * math.log(1 - delay_roll * (1 - math.exp(-window / tau)))
            if touch.offer == "coupon":
                cents = max(cents, touch.min_order_cents)
            caused.append((_days(touch.at) + delay, touch, cents))
    out = baseline(person, until, seed)
    horizon = _days(until)
    used: set[str] = set()
    if caused:
        day, touch, cents = min(caused, key=lambda c: c[0])
        if touch.offer == "coupon":
            used.add(touch.draw_key())
        if day < horizon:
            coupon = touch.offer == "coupon"
            out.append(Response(person.person_id, START + timedelta(days=day), cents, touch.draw_key(),
                                touch.coupon_cents if coupon else 0, touch.coupon_code if coupon else "",
                                touch))
    return sorted(_deadweight(out, touches, coupon_rolls, used, params), key=lambda r: r.at)


def _deadweight(orders: list[Response], touches: Sequence[Touch], rolls: dict[str, float],
                used: set[str], params: ResponseParams) -> list[Response]:
    """Baseline orders that use a read coupon valid at their time (each coupon once)."""
    out = []
    for order in sorted(orders, key=lambda r: r.at):
        if order.cause == "baseline":
            for touch in touches:
                key = touch.draw_key()
                if (key in rolls and key not in used and rolls[key] < params.coupon_deadweight
                        and touch.at <= order.at < touch.at + timedelta(days=touch.valid_days)
                        and order.cents >= touch.min_order_cents):
                    used.add(key)
                    order = Response(order.person_id, order.at, order.cents, "baseline",
                                     touch.coupon_cents, touch.coupon_code, touch)
                    break
        out.append(order)
    return out


def expected(person: Responder, touches: Sequence[Touch], start: datetime, until: datetime,
             params: ResponseParams = RESPONSE) -> Expected:
    """Exact chances of ordering in [start, until): baseline alone, and the incremental order."""
    s, u = max(_days(start), 0.0), _days(until)
    if u <= s:
        return Expected(0.0, 0.0)
    base = 0.0
    if person.alive and person.state != "never_buyer":
        before, within = _activity(s), _activity(u) - _activity(s)
        alive_at_start = math.exp(-person.rate * person.dropout_p * before)
        base = alive_at_start * (1 - math.exp(-person.rate * within))

    def none_caused_before(x: float) -> float:
        product = 1.0
        for touch in touches:
            product *= 1 - cause_p(person, touch, params) * _delay_cdf(x - _days(touch.at), touch, params)
        return product

    return Expected(base, none_caused_before(s) - none_caused_before(u))


def converted(orders: Sequence[Response], start: datetime, until: datetime) -> bool:
    """Whether any of the orders falls in [start, until)."""
    return any(start <= o.at < until for o in orders)


def _state(row: dict) -> str:
    if row["never_buyer"] == "1" or row["baseline_orders"] == "0":
        return "never_buyer"
    return "active" if row["alive_at_end"] == "1" else "lapsed"


@dataclass
class ResponseModel:
    """A generated merchant's persons, seed and response parameters, read back from its `truth/`."""

    seed: int
    persons: dict[str, Responder]
    params: ResponseParams = field(default_factory=ResponseParams)

    @classmethod
    def from_truth(cls, data_dir: Path) -> ResponseModel:
        truth = Path(data_dir) / "truth"
        try:
            seed = json.loads((truth / "params.json").read_text(encoding="utf-8"))["seed"]
            params = ResponseParams.from_json(json.loads((truth / "response.json").read_text(encoding="utf-8")))
            with open(truth / "community.csv", encoding="utf-8", newline="") as handle:
                read = {r["person_id"]: float(r["read_p_end"]) for r in csv.DictReader(handle)}
            with open(truth / "persons.csv", encoding="utf-8", newline="") as handle:
                persons = {r["person_id"]: Responder(
                    r["person_id"], r["region"], float(r["purchase_rate"]), float(r["dropout_p"]),
                    float(r["spend_nu"]), r["alive_at_end"] == "1", _state(r), read.get(r["person_id"]))
                    for r in csv.DictReader(handle)}
        except (OSError, KeyError, ValueError) as e:
            raise InputError(f"{truth}: not the truth/ of `flywheel generate` ({e})") from None
        return cls(seed, persons, params)

    def person(self, person_id: str) -> Responder:
        if person_id not in self.persons:
            raise InputError(f"{person_id}: no such person in the simulated merchant's truth")
        return self.persons[person_id]

    def respond(self, person_id: str, touches: Sequence[Touch], until: datetime) -> list[Response]:
        return respond(self.person(person_id), touches, until, self.seed, self.params)

    def expected(self, person_id: str, touches: Sequence[Touch], start: datetime, until: datetime
                 ) -> Expected:
        return expected(self.person(person_id), touches, start, until, self.params)
