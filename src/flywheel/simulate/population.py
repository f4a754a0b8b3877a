"""Persons of the simulated merchant: who they are, where they shop, and their true purchase traits.

A person is drawn once per chunk from a seeded generator; every platform account they hold is derived
from them, so the truth files can name the person behind each account exactly.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import phonenumbers

from flywheel.simulate import pools
from flywheel.simulate.catalog import PERIOD_DAYS, TRUE_PARAMS
from flywheel.simulate.dice import Dice

MARKETPLACES = ("taobao", "tmall", "jd", "douyin")
_MULT = 2654435761
_PRIMARY_CUM = np.cumsum([0.3, 0.3, 0.2, 0.2])


def scramble(n: int, digits: int, salt: int) -> int:
    """A bijection of 0..10**digits-1: distinct persons get distinct, unordered-looking numbers."""
    return (n * _MULT + salt) % 10**digits


@dataclass
class Person:
    """One true human and every identifier they may show on a source."""

    n: int
    region: str
    name: str
    name_pinyin: str
    surname: str
    birthday: str
    phone: str
    email: str
    province: str
    city: str
    district: str
    street: str
    zip: str
    country: str
    rate: float
    dropout_p: float
    spend_scale: float
    acquired_day: float
    never_buyer: bool
    order_sources: list[str]
    source_weights: list[float]
    wecom: bool
    web: bool
    user_id: str
    devices: list[str]
    unionid: str
    openid: str
    taobao_nick: str
    jd_pin: str
    douyin_id: str
    external_userid: str
    relative_name: str
    relative_phone: str
    is_koc: bool = False
    traps: dict[str, str] = field(default_factory=dict)

    @property
    def person_id(self) -> str:
        return f"P{self.n + 1:07d}"

    @property
    def timezone(self) -> str:
        """Where the person lives: what their devices report as `context.timezone`."""
        if self.region == "CN":
            return pools.CN_TIMEZONE
        return pools.TIMEZONES[self.country if self.region == "EU" else self.province]


def _cn_phone(dice: Dice, n: int, salt: int) -> str:
    prefix = pools.CN_PHONE_PREFIXES[dice.below(len(pools.CN_PHONE_PREFIXES))]
    number = f"{prefix}{scramble(n, 8, salt):08d}"
    return "13900139001" if number == "13800138000" else number


def _valid(number: Callable[[int], str]) -> str:
    """The first of a few deterministic candidates that is a number in service in its country plan:
    real exports carry numbers that exist, so the simulator must not invent unassigned ranges."""
    for k in range(50):
        candidate = number(k)
        if phonenumbers.is_valid_number(phonenumbers.parse(candidate)):
            return candidate
    return candidate


def _cn_given(dice: Dice) -> tuple[str, str]:
    k = 1 + int(dice.random() < 0.7)
    chars = [dice.pick(pools.GIVEN_CHARS) for _ in range(k)]
    return "".join(c for c, _ in chars), "".join(p for _, p in chars)


def _person(dice: Dice, n: int, seed: int, draws: dict, i: int) -> Person:
    salt = seed * 7919
    region = str(draws["region"][i])
    if region == "CN":
        s_cn, s_py = pools.SURNAMES[dice.below(len(pools.SURNAMES))]
        g_cn, g_py = _cn_given(dice)
        name, pinyin = s_cn + g_cn, f"{s_py} {g_py.capitalize()}"
        phone = _cn_phone(dice, n, salt)
        domain = pools.CN_EMAIL_DOMAINS[dice.below(len(pools.CN_EMAIL_DOMAINS))]
        local = (str(10000000 + scramble(n, 9, salt + 3)) if domain == "qq.com"
                 else f"{s_py.lower()}{g_py}{scramble(n, 7, salt + 5)}")
        province, city, districts = pools.CN_PLACES[dice.below(len(pools.CN_PLACES))]
        district = districts[dice.below(len(districts))]
        street = (f"{pools.CN_STREETS[dice.below(len(pools.CN_STREETS))]}"
                  f"{dice.integer(1, 400)}号{dice.integer(1, 30)}栋{dice.integer(101, 2802)}室")
        zip_code, country = f"{dice.integer(100000, 860000):06d}", "CN"
        r_cn, _ = _cn_given(dice)
        relative_name, relative_phone = s_cn + r_cn, _cn_phone(dice, n, salt + 11)
    else:
        first = pools.LATIN_FIRST[dice.below(len(pools.LATIN_FIRST))]
        last = pools.LATIN_LAST[dice.below(len(pools.LATIN_LAST))]
        name = pinyin = f"{first} {last}"
        s_cn = last
        domain = pools.LATIN_EMAIL_DOMAINS[dice.below(len(pools.LATIN_EMAIL_DOMAINS))]
        ascii_name = f"{first}.{last}".lower().replace(" ", "")
        ascii_name = ascii_name.encode("ascii", "ignore").decode()
        local = f"{ascii_name}{scramble(n, 6, salt + 5)}"
        if region == "EU":
            country, cc, mobile, city, province, zip_code, streets = \
                pools.EU_PLACES[dice.below(len(pools.EU_PLACES))]
            width = pools.EU_MOBILE_LENGTH[cc] - len(mobile)
            phone = _valid(lambda k: f"{cc}{mobile}{scramble(n, width, salt + k):0{width}d}")
        else:
            area, city, province, zip_code, streets = \
                pools.US_PLACES[dice.below(len(pools.US_PLACES))]
            country = "US"
            exchange = dice.integer(2, 10)
            phone = _valid(lambda k: f"+1{area}{exchange}{scramble(n, 6, salt + k):06d}")
        street = f"{dice.integer(1, 200)} {streets[dice.below(len(streets))]}"
        district = ""
        relative_name, relative_phone = f"{pools.LATIN_FIRST[dice.below(30)]} {last}", ""
    birthday = date(1960, 1, 1) + timedelta(days=dice.integer(0, 365 * 45))

    sources, weights = _order_sources(dice, region)
    web = region != "CN" or "shopify" in sources or dice.random() < 0.25
    user_id = f"u_{scramble(n, 9, salt + 17):09x}" if "shopify" in sources else ""
    devices = [f"{'mp' if region == 'CN' and dice.random() < 0.5 else 'anon'}-"
               f"{dice.bytes16()[:6].hex()}-{scramble(n, 8, salt + 19):08d}"
               for _ in range(1 + int(dice.random() < 0.2))] if web else []
    has_wechat = region == "CN" and dice.random() < 0.7
    return Person(
        n=n, region=region, name=name, name_pinyin=pinyin, surname=s_cn,
        birthday=birthday.isoformat(), phone=phone, email=f"{local}@{domain}",
        province=province, city=city, district=district, street=street, zip=zip_code,
        country=country, rate=float(draws["rate"][i]), dropout_p=float(draws["dropout"][i]),
        spend_scale=float(draws["scale"][i]), acquired_day=float(draws["acquired"][i]),
        never_buyer=bool(draws["never"][i]), order_sources=sources, source_weights=weights,
        wecom=region == "CN" and dice.random() < 0.3, web=web, user_id=user_id, devices=devices,
        unionid=f"o6_{dice.bytes16()[:9].hex()}{scramble(n, 7, salt + 23):07d}" if has_wechat else "",
        openid=f"oA{dice.bytes16()[:8].hex()}{scramble(n, 7, salt + 29):07d}" if has_wechat else "",
        taobao_nick=_nick(dice, n, salt, g_py if region == "CN" else ""),
        jd_pin=f"jd_{scramble(n, 10, salt + 31):010d}" if dice.random() < 0.6
        else f"{pinyin.replace(' ', '').lower()}_{scramble(n, 7, salt + 37):07d}",
        douyin_id=f"{3000000000000 + scramble(n, 12, salt + 41)}",
        external_userid=f"wm{dice.bytes16()[:10].hex()}{scramble(n, 8, salt + 43):08d}",
        relative_name=relative_name, relative_phone=relative_phone,
    )


def _nick(dice: Dice, n: int, salt: int, given_py: str) -> str:
    style = dice.random()
    if style < 0.4:
        return f"tb{scramble(n, 10, salt + 47):010d}"
    if style < 0.7 and given_py:
        return f"{given_py}{scramble(n, 7, salt + 53):07d}"
    return f"{pools.NICK_WORDS[dice.below(len(pools.NICK_WORDS))]}{scramble(n, 7, salt + 59):07d}"


def _order_sources(dice: Dice, region: str) -> tuple[list[str], list[float]]:
    if region != "CN":
        return ["shopify"], [1.0]
    primary = MARKETPLACES[dice.weighted(_PRIMARY_CUM)]
    sources, weights = [primary], [3.0]
    for other in MARKETPLACES:
        if other != primary and dice.random() < 0.15:
            sources.append(other)
            weights.append(1.0)
    if dice.random() < 0.2:
        sources.append("shopify")
        weights.append(1.0)
    total = sum(weights)
    return sources, [w / total for w in weights]


def make_persons(seed: int, chunk: int, first_n: int, count: int) -> list[Person]:
    """Draw `count` persons numbered from `first_n`, identical for the same (seed, chunk)."""
    rng = np.random.default_rng([seed, chunk, 1])
    tp = TRUE_PARAMS
    draws = {
        "region": rng.choice(np.array(["CN", "EU", "US"]), size=count, p=[0.8, 0.08, 0.12]),
        "rate": rng.gamma(tp.r, 1.0 / tp.alpha, size=count),
        "dropout": rng.beta(tp.a, tp.b, size=count),
        "scale": rng.gamma(tp.q, 1.0 / tp.v, size=count),
        "acquired": rng.uniform(0, PERIOD_DAYS, size=count),
        "never": rng.random(count) < tp.never_buyer_share,
    }
    dice = Dice(rng)
    persons = [_person(dice, first_n + i, seed, draws, i) for i in range(count)]
    web_users = [p for p in persons if p.user_id]
    n_koc = max(2, len(persons) // 1000) if len(web_users) >= 20 else 0
    for idx in rng.choice(len(web_users), size=min(n_koc, len(web_users)), replace=False):
        web_users[int(idx)].is_koc = True
    return persons
