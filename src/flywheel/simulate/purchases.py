"""Orders of one person: a buy-till-you-die process, gamma-gamma spend, items and outcomes.

Baseline orders come from the true BTYD process; touchpoints from paid channels add incremental
orders with each channel's true effect, and are marked so analyses can be graded against them.
"""

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from flywheel.simulate.ads import Campaign, SpendTable
from flywheel.simulate.catalog import (
    BRAND_SEARCH_SHARE,
    CHANNELS,
    COPURCHASE_PAIRS,
    PERIOD_DAYS,
    PERIOD_START,
    PRODUCTS,
    TRUE_PARAMS,
    Product,
)
from flywheel.simulate.dice import Dice
from flywheel.simulate.population import Person

_POPULARITY = np.array([p.popularity for p in PRODUCTS])
_POPULARITY = _POPULARITY / _POPULARITY.sum()
_SKU_INDEX = {p.sku: i for i, p in enumerate(PRODUCTS)}
_PARTNERS = {_SKU_INDEX[a]: (_SKU_INDEX[b], prob) for a, b, prob in COPURCHASE_PAIRS}
_EFFECT = {c.name: c.effect for c in CHANNELS}
_HOURS = np.array([1, 1, 0.5, 0.3, 0.2, 0.3, 0.8, 1.5, 2.5, 3, 3.2, 3.5, 4, 3.6, 3.2, 3.2,
                   3.4, 3.6, 4, 5, 6.5, 7.5, 7, 4])
_HOURS_CUM = np.cumsum(_HOURS / _HOURS.sum())
_POPULARITY_CUM = np.cumsum(_POPULARITY)


@dataclass
class Touchpoint:
    """A paid-channel landing seen on the web shop (an event with `context.campaign`)."""

    at: datetime
    campaign: Campaign
    converted: bool


@dataclass
class Order:
    """One order as it happened; writers turn it into each source's export rows."""

    person: Person
    source: str
    order_id: str
    created: datetime
    status: str
    items: list[tuple[Product, int, int]]
    gross_cents: int
    refund_cents: int = 0
    refunded_items: list[int] = field(default_factory=list)
    receiver_name: str = ""
    receiver_phone: str = ""
    email: str = ""
    gift: bool = False
    incremental_channel: str = ""
    discount_code: str = ""
    discount_cents: int = 0
    """A coupon used on the order (the brand's shop only); `gross_cents` is what was paid."""

    @property
    def paid(self) -> datetime | None:
        if self.status in ("pending", "cancelled"):
            return None
        return self.created + timedelta(seconds=30 + self.gross_cents % 600)


@dataclass
class PurchaseHistory:
    """What the BTYD process did for one person, recorded in `truth/persons.csv`."""

    baseline_days: list[float]
    alive_at_end: bool
    touchpoints: list[Touchpoint]
    orders: list[Order] = field(default_factory=list)


def btyd_days(rng: np.random.Generator, person: Person) -> tuple[list[float], bool]:
    """Purchase days in the period and whether the person is still alive at its end."""
    if person.never_buyer:
        return [], True
    horizon = PERIOD_DAYS - person.acquired_day
    expected = person.rate * horizon
    cap = int(expected + 6 * math.sqrt(expected) + 10)
    total = min(int(rng.geometric(person.dropout_p)), cap)
    gaps = rng.exponential(1.0 / person.rate, size=total - 1)
    days = person.acquired_day + np.concatenate(([0.0], np.cumsum(gaps)))
    kept = days[days < PERIOD_DAYS]
    return [float(d) for d in kept], len(kept) < total


def _at(dice: Dice, day: float) -> datetime:
    second = dice.weighted(_HOURS_CUM) * 3600 + dice.below(3600)
    return PERIOD_START + timedelta(days=int(day), seconds=second)


def _items(dice: Dice, cents: int) -> list[tuple[Product, int, int]]:
    count = min(1 + dice.poisson(0.35), 4)
    chosen = [dice.weighted(_POPULARITY_CUM)]
    partner = _PARTNERS.get(chosen[0])
    if partner and dice.random() < partner[1]:
        chosen.append(partner[0])
    while len(chosen) < count:
        extra = dice.weighted(_POPULARITY_CUM)
        if extra not in chosen:
            chosen.append(extra)
    qty = [1 if dice.random() < 0.85 else 2 + dice.below(2) for _ in chosen]
    weights = np.array([PRODUCTS[c].list_price * q for c, q in zip(chosen, qty)])
    shares = np.floor(cents * weights / weights.sum()).astype(int)
    shares[-1] += cents - int(shares.sum())
    return [(PRODUCTS[c], q, int(s)) for c, q, s in zip(chosen, qty, shares)]


def outcome(dice: Dice, order: Order, exported: datetime = PERIOD_START + timedelta(days=PERIOD_DAYS)
            ) -> None:
    """The order's status (and refund) as an export taken at `exported` shows it."""
    age = (exported - order.created).days
    roll = dice.random()
    if roll < 0.01:
        order.status = "pending"
    elif roll < 0.03:
        order.status = "cancelled"
    elif roll < 0.07 and age > 3:
        if dice.random() < 0.6:
            order.status, order.refund_cents = "refunded", order.gross_cents
            order.refunded_items = list(range(len(order.items)))
        else:
            order.status = "partially_refunded"
            k = dice.below(len(order.items))
            order.refunded_items = [k]
            line = order.items[k][2]
            if len(order.items) > 1:
                order.refund_cents = line
            elif order.source in ("taobao", "tmall", "shopify"):
                order.refund_cents = int(line * dice.between(0.3, 0.7))
            else:
                order.status, order.refund_cents = "refunded", order.gross_cents
        if order.source == "jd" and order.status == "partially_refunded":
            order.status, order.refund_cents = "refunded", order.gross_cents
            order.refunded_items = list(range(len(order.items)))
    else:
        order.status = "paid" if age < 2 else "shipped" if age < 10 else "completed"


def receiver(dice: Dice, order: Order) -> None:
    person = order.person
    order.receiver_name, order.receiver_phone, order.email = person.name, person.phone, person.email
    if person.region == "CN" and person.relative_phone and dice.random() < 0.08:
        order.gift, order.receiver_name = True, person.relative_name
        order.receiver_phone = person.relative_phone
    traps = person.traps
    if "pinyin_name" in traps and dice.random() < 0.6:
        order.receiver_name = person.name_pinyin
    if "office_phone" in traps and dice.random() < 0.7:
        order.receiver_phone = traps["office_phone"]
    if "placeholder_phone" in traps:
        order.receiver_phone = traps["placeholder_phone"]
    if "placeholder_email" in traps:
        order.email = traps["placeholder_email"]
    if "typo_email" in traps and dice.random() < 0.5:
        order.email = traps["typo_email"]
    if "typo_name" in traps and dice.random() < 0.5:
        order.receiver_name = traps["typo_name"]


def simulate_person(rng: np.random.Generator, dice: Dice, person: Person, spend: SpendTable,
                    next_order_id) -> PurchaseHistory:
    """Every order and touchpoint of one person, in time order."""
    days, alive = btyd_days(rng, person)
    death = math.inf if alive else (days[-1] if days else math.inf)
    origins: list[tuple[float, str]] = [(d, "") for d in days]
    touchpoints: list[Touchpoint] = []
    if person.web:
        abroad = person.region != "CN"
        for campaign, day in spend.sample(rng, int(rng.poisson(1.2)), abroad):
            converted = day < death and dice.random() < _EFFECT[campaign.channel]
            touchpoints.append(Touchpoint(_at(dice, day), campaign, converted))
            if converted:
                later = day + float(rng.exponential(2.0))
                if later < PERIOD_DAYS:
                    origins.append((later, campaign.channel))
    origins.sort()
    orders = []
    for day, channel in origins:
        source = person.order_sources[dice.weighted(np.cumsum(person.source_weights))]
        created = _at(dice, day)
        value = max(990, int(round(rng.gamma(TRUE_PARAMS.p, 1.0 / person.spend_scale) * 100)))
        order = Order(person, source, next_order_id(source), created, "", _items(dice, value),
                      value, incremental_channel=channel)
        outcome(dice, order)
        receiver(dice, order)
        orders.append(order)
        if (not channel and person.web and person.region == "CN"
                and dice.random() < BRAND_SEARCH_SHARE):
            brand = [c for c in spend.campaigns if c.channel == "baidu_brand"][0]
            before = created - timedelta(hours=dice.between(0.1, 20))
            if before > PERIOD_START:
                touchpoints.append(Touchpoint(before, brand, False))
    touchpoints.sort(key=lambda t: t.at)
    return PurchaseHistory(days, alive, touchpoints, orders)
