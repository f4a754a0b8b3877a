"""Segment-spec events of one person on the web shop and the WeChat mini-program.

Browsing, paid landings (touchpoints), web-shop orders, referrals and reviews become `page`,
`track`, `identify` and `alias` calls; each carries a unique `messageId` mapped to its person in
`truth/events.csv`. Web events carry the browser's `context.timezone` (the person's own zone, or the
store's for the in-store kiosk), as analytics.js does; mini-program events carry none.
"""

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from flywheel.simulate import pools
from flywheel.simulate.catalog import (
    PERIOD_END,
    PERIOD_START,
    PRODUCTS,
    UTC_OFFSET_HOURS,
)
from flywheel.simulate.dice import Dice
from flywheel.simulate.population import Person
from flywheel.simulate.purchases import PurchaseHistory

_SHARE_CHANNELS = ("wechat", "moments", "xiaohongshu", "weibo")
_RATING_CUM = np.cumsum([0.03, 0.04, 0.1, 0.33, 0.5])


@dataclass
class Referral:
    """One share and the persons who accepted it."""

    share_id: str
    inviter: Person
    at: datetime
    channel: str
    invitees: list[tuple[Person, datetime]] = field(default_factory=list)


@dataclass
class EventLine:
    message_id: str
    person: Person
    at: datetime
    source: str
    account_refs: tuple[str, ...]
    line: str


_OFFSET = timedelta(hours=UTC_OFFSET_HOURS)


def _iso(at: datetime) -> str:
    """A merchant-local naive time as UTC ISO-8601 with milliseconds (truncated) and `Z`."""
    return (at - _OFFSET).isoformat(timespec="milliseconds") + "Z"


class EventBuilder:
    """Builds the event lines of one person with a shared generator."""

    def __init__(self, dice: Dice, person: Person):
        self.dice, self.person, self.lines = dice, person, []
        self.identified: set[str] = set()
        self.device_zone: dict[str, str] = {}
        """Devices whose clock is not in the person's own zone (the in-store kiosk)."""
        self.agents = {"web": dice.pick(pools.USER_AGENTS[:4]),
                       "miniprogram": dice.pick(pools.USER_AGENTS[4:])}

    def device_source(self, device: str) -> str:
        return "miniprogram" if device.startswith("mp-") else "web"

    def emit(self, kind: str, at: datetime, device: str, logged_in: bool, body: dict,
             context: dict | None = None) -> None:
        if not (PERIOD_START <= at < PERIOD_END):
            return
        dice, person = self.dice, self.person
        message_id = str(uuid.UUID(bytes=dice.bytes16(), version=4))
        source = self.device_source(device)
        at = at.replace(microsecond=dice.below(1000) * 1000)
        event: dict = {"type": kind, "messageId": message_id, "anonymousId": device}
        user_id = person.user_id if logged_in else ""
        if user_id:
            event["userId"] = user_id
        event.update(body)
        ctx: dict = {"source": source, "userAgent": self.agents[source]}
        if source == "web":  # analytics.js reports the browser's zone; the mini-program SDK does not
            ctx["timezone"] = self.device_zone.get(device, person.timezone)
        if dice.random() < 0.5:
            ctx["ip"] = f"{1 + dice.below(222)}.{dice.below(256)}.{dice.below(256)}.0"
        ctx.update(context or {})
        if source == "miniprogram" and person.unionid and dice.random() < 0.5:
            event["identities"] = {"wechat_unionid": person.unionid, "wechat_openid": person.openid}
        event["context"] = ctx
        event["timestamp"] = event["originalTimestamp"] = _iso(at)
        event["sentAt"] = _iso(at + timedelta(milliseconds=5 + dice.below(895)))
        refs = (device, user_id) if user_id else (device,)
        self.lines.append(EventLine(message_id, person, at, source, refs,
                                    json.dumps(event, ensure_ascii=False, separators=(",", ":"))))

    def identify(self, at: datetime, device: str) -> None:
        person = self.person
        if not person.user_id or device in self.identified:
            return
        self.identified.add(device)
        traits = {"email": person.email, "phone": person.phone}
        if person.region == "CN" and self.dice.random() < 0.5:
            traits = {"phone": person.phone}
        context = {}
        if self.dice.random() < 0.1:
            context["consent"] = {"personalization": "granted",
                                  "marketing_email": "denied" if self.dice.random() < 0.5 else "granted"}
        self.emit("identify", at, device, True, {"traits": traits}, context)
        if self.dice.random() < 0.05:
            self.emit("alias", at + timedelta(seconds=2), device, True, {"previousId": device})

    def browse(self, at: datetime, device: str, logged_in: bool, campaign: dict | None = None
               ) -> None:
        dice = self.dice
        page = {"name": "Landing" if campaign else "Home",
                "properties": {"path": "/" if not campaign else "/lp"}}
        self.emit("page", at, device, logged_in, page, {"campaign": campaign} if campaign else None)
        for k in range(1 + dice.poisson(0.8)):
            product = dice.pick(PRODUCTS)
            self.emit("track", at + timedelta(seconds=20 + 40 * k), device, logged_in,
                      {"event": "Product Viewed", "properties": _product(product)})
        if dice.random() < 0.25:
            self.emit("track", at + timedelta(minutes=5), device, logged_in,
                      {"event": "Product Added", "properties": _product(product)})


def _product(product, quantity: int = 1, cents: int | None = None) -> dict:
    price = product.list_price if cents is None else round(cents / 100 / quantity, 2)
    return {"product_id": product.sku, "sku": product.sku, "name": product.name_en,
            "category": product.category, "price": price, "quantity": quantity}


def person_events(dice: Dice, person: Person, history: PurchaseHistory,
                  shares: list[Referral], accepted: list[Referral]) -> list[EventLine]:
    """All events of `person`, given their orders, touchpoints and referral activity."""
    builder = EventBuilder(dice, person)
    devices = list(person.devices)
    if "family_device" in person.traps:
        devices.append(person.traps["family_device"])
    if not devices:
        return []
    pick = lambda: dice.pick(devices)  # noqa: E731
    logged = lambda: bool(person.user_id) and dice.random() < 0.6  # noqa: E731
    start = max(0.0, person.acquired_day - 30)
    end = (PERIOD_END - PERIOD_START).days
    for day in sorted(dice.between(start, end) for _ in range(dice.poisson(2))):
        at = PERIOD_START + timedelta(days=float(day))
        device, login = pick(), logged()
        if login:
            builder.identify(at - timedelta(seconds=30), device)
        builder.browse(at, device, login)
    if "kiosk_device" in person.traps:
        kiosk = person.traps["kiosk_device"]
        builder.device_zone[kiosk] = pools.CN_TIMEZONE
        at = PERIOD_START + timedelta(days=dice.between(0, 540))
        login = bool(person.user_id) and dice.random() < 0.3
        if login:
            builder.identify(at - timedelta(seconds=30), kiosk)
        builder.browse(at, kiosk, login)
    for tp in history.touchpoints:
        c = tp.campaign
        builder.browse(tp.at, pick(), logged(), {"source": c.channel, "medium": c.medium,
                                                 "name": c.campaign_name, "id": c.campaign_id})
    for order in history.orders:
        if order.source != "shopify" or not person.user_id:
            continue
        device = pick()
        builder.identify(order.created - timedelta(minutes=12), device)
        for k, (product, qty, cents) in enumerate(order.items):
            builder.emit("track", order.created - timedelta(minutes=10 - k), device, True,
                         {"event": "Product Added", "properties": _product(product, qty, cents)})
        builder.emit("track", order.created, device, True, {"event": "Order Completed", "properties": {
            "order_id": order.order_id, "revenue": round(order.gross_cents / 100, 2),
            "currency": "CNY", "products": [_product(p, q, c) for p, q, c in order.items]}})
        if order.status == "completed" and dice.random() < (0.8 if person.is_koc else 0.12):
            has_media = dice.random() < (0.7 if person.is_koc else 0.25)
            builder.emit("track", order.created + timedelta(days=dice.between(4, 20)), device,
                         True, {"event": "Review Submitted", "properties": {
                             "order_id": order.order_id, "rating": dice.weighted(_RATING_CUM) + 1,
                             "has_media": has_media, "length": 8 + dice.below(392)}})
    for share in shares:
        builder.emit("track", share.at, pick(), True, {"event": "Referral Shared", "properties": {
            "share_id": share.share_id, "channel": share.channel}})
    for share in accepted:
        at = [when for invitee, when in share.invitees if invitee is person][0]
        builder.emit("track", at, pick(), logged(), {"event": "Referral Accepted", "properties": {
            "share_id": share.share_id, "inviter_user_id": share.inviter.user_id}},
            {"campaign": {"source": share.channel, "medium": "referral", "name": "invite"}})
    return builder.lines


def plan_referrals(rng: np.random.Generator, persons: list[Person]) -> list[Referral]:
    """Shares by KOCs (many accepted invites each) and a few ordinary customers."""
    inviters = [p for p in persons if p.user_id]
    candidates = [p for p in persons if p.devices and not p.is_koc]
    order = rng.permutation(len(candidates))
    pool = [candidates[int(i)] for i in order]
    referrals: list[Referral] = []
    for inviter in inviters:
        n_shares = int(rng.integers(4, 9)) if inviter.is_koc else int(rng.random() < 0.06)
        for _ in range(n_shares):
            n_accept = int(rng.integers(2, 8)) if inviter.is_koc else int(rng.random() < 0.4)
            share = Referral(f"s_{rng.bytes(8).hex()}", inviter, datetime.min,
                             _SHARE_CHANNELS[int(rng.integers(len(_SHARE_CHANNELS)))])
            for _ in range(n_accept):
                if not pool:
                    break
                invitee = pool.pop()
                if invitee is inviter:
                    continue
                share.invitees.append((invitee, PERIOD_START + timedelta(
                    days=max(1.0, invitee.acquired_day - float(rng.uniform(0.05, 2))))))
            first = min([w for _, w in share.invitees], default=None)
            share.at = max(PERIOD_START + timedelta(minutes=10), (first or PERIOD_START + timedelta(
                days=float(rng.uniform(1, 540)))) - timedelta(hours=float(rng.uniform(1, 72))))
            referrals.append(share)
    return referrals
