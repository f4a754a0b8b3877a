"""The loyalty rules file (`flywheel loyalty apply RULES.yaml`): earning, growth value and levels,
tasks, referral and assist campaigns. Every section is optional; what is left out takes the default
(docs/loyalty.md has a complete example). An invalid file is refused naming the file, the path in it
and the reason.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, field
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml

from flywheel.errors import InputError

WINDOWS = ("rolling_days", "calendar_year", "anniversary")
TASKS = ("review", "share_order", "check_in", "complete_profile")


class LoyaltyRulesError(InputError):
    """A rules file that cannot be used as written: `file: path: reason`."""

    def __init__(self, where: str, path: str, reason: str):
        self.where, self.path, self.reason = where, path, reason
        super().__init__(f"{where}: {path}: {reason}")


@dataclass(frozen=True)
class Rate:
    """Points for a paid amount: `points` per whole `cny_per_point` CNY, times `multiplier`, rounded down."""

    cny_per_point: Decimal = Decimal(10)
    multiplier: Decimal = Decimal(1)

    def points(self, paid_cents: int) -> int:
        whole = (Decimal(paid_cents) / 100 / self.cny_per_point).to_integral_value(ROUND_FLOOR)
        return int((whole * self.multiplier).to_integral_value(ROUND_FLOOR))


@dataclass(frozen=True)
class Earning:
    base: Rate = Rate()
    by_source: dict[str, Rate] = field(default_factory=dict)
    by_category: dict[str, Decimal] = field(default_factory=dict)
    by_tier: dict[str, Decimal] = field(default_factory=dict)
    pending_days: int = 0
    expiry_days: int | None = 365
    expiry_end_of_year: bool = False
    point_value_cents: int = 1
    """What one point is worth when redeemed (the liability's unit): 1 cent, i.e. 100 points = 1 CNY."""

    def points(self, paid_cents: int, source: str | None = None, category: str | None = None,
               tier: str | None = None) -> int:
        """Points an order earns: the source's rate (else the base), times the category's and the tier's
        multipliers; rounding down once, at the end."""
        rate = self.by_source.get(source or "", self.base)
        multiplier = rate.multiplier * self.by_category.get(category or "", Decimal(1)) * self.by_tier.get(tier or "", Decimal(1))
        return Rate(rate.cny_per_point, multiplier).points(paid_cents)

    def expires_at(self, earned: dt.datetime, tz) -> dt.datetime | None:
        """When a lot earned at `earned` expires: N days later, or at the end of the merchant-time
        calendar year after the one it was earned in."""
        if self.expiry_end_of_year:
            year = earned.astimezone(tz).year + 1
            return dt.datetime(year + 1, 1, 1, tzinfo=tz).astimezone(dt.timezone.utc)
        if self.expiry_days is None:
            return None
        return earned + dt.timedelta(days=self.expiry_days)


@dataclass(frozen=True)
class Level:
    name: str
    threshold: int
    benefits: tuple[str, ...] = ()


@dataclass(frozen=True)
class Growth:
    window: str = "rolling_days"
    days: int = 365
    per_cny: Decimal = Decimal(1)
    levels: tuple[Level, ...] = (Level("Member", 0, ()), Level("Silver", 500, ("free shipping",)),
                                 Level("Gold", 2000, ("free shipping", "birthday gift", "priority service")))
    warn_days: int = 30

    def value(self, paid_cents: int) -> int:
        return int((Decimal(paid_cents) / 100 * self.per_cny).to_integral_value(ROUND_FLOOR))

    def level_for(self, growth: int) -> Level:
        return [lv for lv in self.levels if growth >= lv.threshold][-1]


@dataclass(frozen=True)
class Task:
    name: str
    points: int = 0
    growth: int = 0
    per_day: int | None = 1
    once: bool = False
    photo_points: int | None = None
    video_points: int | None = None


@dataclass(frozen=True)
class Referral:
    window_days: int = 90
    review_days: int = 30
    reward_cents: int = 5000
    min_order_cents: int = 3000
    valid_days: int = 30
    per_person: int | None = 20
    per_household: int | None = 30
    budget_cents: int | None = None
    ring_size: int = 3
    disposable_domains: tuple[str, ...] = ("mailinator.com", "10minutemail.com", "guerrillamail.com",
                                           "temp-mail.org", "yopmail.com", "trashmail.com", "sharklasers.com",
                                           "getnada.com", "dispostable.com", "maildrop.cc")


@dataclass(frozen=True)
class AssistCampaign:
    name: str
    unlock: tuple[tuple[int, str], ...]
    per_helper_per_day: int = 3
    per_initiator: int = 1
    wechat_external_links: bool = False


@dataclass(frozen=True)
class LoyaltyRules:
    earning: Earning = Earning()
    growth: Growth = Growth()
    tasks: dict[str, Task] = field(default_factory=lambda: {
        "review": Task("review", points=10, growth=5, per_day=3, photo_points=20, video_points=30),
        "share_order": Task("share_order", points=5, per_day=2),
        "check_in": Task("check_in", points=1, per_day=1),
        "complete_profile": Task("complete_profile", points=50, growth=20, per_day=None, once=True)})
    referral: Referral = Referral()
    assist_campaigns: dict[str, AssistCampaign] = field(default_factory=dict)
    timezone: str | None = None

    def as_json(self) -> str:
        return json.dumps(asdict(self), default=str, sort_keys=True, ensure_ascii=False)


def load_rules_file(path: Path) -> tuple[LoyaltyRules, dict]:
    """The rules of a YAML file, and the mapping as written (what `loyalty apply` stores)."""
    where = str(path)
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise InputError(f"{where}: cannot read: {e.strerror}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark else ""
        raise InputError(f"{where}:{line} not valid YAML: {getattr(e, 'problem', e)}") from None
    return parse_rules(raw or {}, where), raw or {}


def parse_rules(raw: Any, where: str = "rules") -> LoyaltyRules:
    p = _Parser(where)
    body = p.mapping(raw, "", {"points", "growth", "levels", "tasks", "referral", "assist_campaigns", "timezone"})
    tz = body.get("timezone")
    if tz is not None:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(str(tz))
        except (ZoneInfoNotFoundError, ValueError):
            p.fail("timezone", f"unknown time zone {tz!r}")
    return LoyaltyRules(earning=p.earning(body.get("points"), "points"),
                        growth=p.growth(body.get("growth"), body.get("levels")),
                        tasks=p.tasks(body.get("tasks"), "tasks"), referral=p.referral(body.get("referral"), "referral"),
                        assist_campaigns=p.assists(body.get("assist_campaigns"), "assist_campaigns"),
                        timezone=str(tz) if tz is not None else None)


class _Parser:
    def __init__(self, where: str):
        self.where = where

    def fail(self, path: str, reason: str):
        raise LoyaltyRulesError(self.where, path or "(top)", reason)

    def mapping(self, raw: Any, path: str, allowed: set[str]) -> dict:
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            self.fail(path, f"a mapping, not {type(raw).__name__}")
        unknown = sorted(set(map(str, raw)) - allowed)
        if unknown:
            self.fail(_join(path, unknown[0]), f"unknown key (known: {', '.join(sorted(allowed))})")
        return raw

    def integer(self, raw: Any, path: str, minimum: int = 0) -> int:
        if isinstance(raw, bool) or not isinstance(raw, int) or raw < minimum:
            self.fail(path, f"a whole number ≥ {minimum}, not {raw!r}")
        return raw

    def decimal(self, raw: Any, path: str, positive: bool = True) -> Decimal:
        if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
            self.fail(path, f"a number, not {raw!r}")
        try:
            value = Decimal(str(raw))
        except InvalidOperation:
            self.fail(path, f"a number, not {raw!r}")
        if not value.is_finite() or value < 0 or (positive and value == 0):
            self.fail(path, f"a number {'>' if positive else '≥'} 0, not {raw!r}")
        return value

    def cents(self, raw: Any, path: str) -> int:
        value = self.decimal(raw, path, positive=False)
        if value != value.quantize(Decimal("0.01")):
            self.fail(path, f"an amount in CNY with at most 2 decimals, not {raw!r}")
        return int(value * 100)

    def rate(self, raw: Any, path: str, base: Rate) -> Rate:
        body = self.mapping(raw, path, {"cny_per_point", "multiplier"})
        return Rate(self.decimal(body["cny_per_point"], _join(path, "cny_per_point")) if "cny_per_point" in body
                    else base.cny_per_point,
                    self.decimal(body["multiplier"], _join(path, "multiplier"), False) if "multiplier" in body
                    else base.multiplier)

    def multipliers(self, raw: Any, path: str) -> dict[str, Decimal]:
        body = self.mapping(raw, path, set(map(str, raw or {})))
        out = {}
        for name, value in body.items():
            here = _join(path, str(name))
            if isinstance(value, dict):
                value = self.mapping(value, here, {"multiplier"}).get("multiplier", 1)
                here = _join(here, "multiplier")
            out[str(name)] = self.decimal(value, here, False)
        return out

    def earning(self, raw: Any, path: str) -> Earning:
        body = self.mapping(raw, path, {"earn", "pending_days", "expiry", "value"})
        earn = self.mapping(body.get("earn"), _join(path, "earn"),
                            {"cny_per_point", "multiplier", "by_source", "by_category", "by_tier"})
        here = _join(path, "earn")
        base = self.rate({k: v for k, v in earn.items() if k in ("cny_per_point", "multiplier")}, here, Rate())
        by_source = {str(s): self.rate(v, _join(here, f"by_source.{s}"), base)
                     for s, v in self.mapping(earn.get("by_source"), _join(here, "by_source"),
                                              set(map(str, earn.get("by_source") or {}))).items()}
        expiry = self.mapping(body.get("expiry"), _join(path, "expiry"), {"after_days", "end_of_next_year", "never"})
        if len(expiry) > 1:
            self.fail(_join(path, "expiry"), "one of after_days, end_of_next_year, never")
        days, end_of_year = Earning.expiry_days, False
        if "after_days" in expiry:
            days = self.integer(expiry["after_days"], _join(path, "expiry.after_days"), 1)
        elif expiry.get("end_of_next_year"):
            days, end_of_year = None, True
        elif expiry.get("never"):
            days = None
        value = self.cents(body["value"], _join(path, "value")) if "value" in body else Earning.point_value_cents
        if value <= 0:
            self.fail(_join(path, "value"), "what one point is worth in CNY, > 0 (e.g. 0.01)")
        return Earning(base, by_source, self.multipliers(earn.get("by_category"), _join(here, "by_category")),
                       self.multipliers(earn.get("by_tier"), _join(here, "by_tier")),
                       self.integer(body.get("pending_days", 0), _join(path, "pending_days")), days, end_of_year,
                       value)

    def growth(self, raw: Any, levels_raw: Any) -> Growth:
        body = self.mapping(raw, "growth", {"window", "days", "per_cny", "warn_days"})
        window = body.get("window", Growth.window)
        if window not in WINDOWS:
            self.fail("growth.window", f"one of {', '.join(WINDOWS)}, not {window!r}")
        levels = Growth.levels
        if levels_raw is not None:
            if not isinstance(levels_raw, list) or not levels_raw:
                self.fail("levels", "a list of levels: [{name, threshold, benefits}]")
            parsed = []
            for i, lv in enumerate(levels_raw):
                here = f"levels[{i}]"
                lv = self.mapping(lv, here, {"name", "threshold", "benefits"})
                if not isinstance(lv.get("name"), str) or not lv["name"]:
                    self.fail(_join(here, "name"), "a level name")
                benefits = lv.get("benefits") or []
                if not isinstance(benefits, list) or not all(isinstance(b, str) for b in benefits):
                    self.fail(_join(here, "benefits"), "a list of benefit names")
                parsed.append(Level(lv["name"], self.integer(lv.get("threshold"), _join(here, "threshold")),
                                    tuple(benefits)))
            thresholds = [lv.threshold for lv in parsed]
            if thresholds[0] != 0:
                self.fail("levels[0].threshold", "the first level starts at 0 (every member has a level)")
            if thresholds != sorted(set(thresholds)):
                self.fail("levels", "thresholds must rise strictly from level to level")
            if len({lv.name for lv in parsed}) != len(parsed):
                self.fail("levels", "level names must be distinct")
            levels = tuple(parsed)
        return Growth(window, self.integer(body.get("days", Growth.days), "growth.days", 1),
                      self.decimal(body.get("per_cny", 1), "growth.per_cny", False), levels,
                      self.integer(body.get("warn_days", Growth.warn_days), "growth.warn_days"))

    def tasks(self, raw: Any, path: str) -> dict[str, Task]:
        defaults = LoyaltyRules().tasks
        if raw is None:
            return defaults
        body = self.mapping(raw, path, set(TASKS))
        out = dict(defaults)
        for name, spec in body.items():
            here = _join(path, name)
            spec = self.mapping(spec, here, {"points", "growth", "per_day", "once", "photo_points", "video_points"})
            per_day = spec.get("per_day", defaults[name].per_day)
            out[name] = Task(name, self.integer(spec.get("points", 0), _join(here, "points")),
                             self.integer(spec.get("growth", 0), _join(here, "growth")),
                             None if per_day is None else self.integer(per_day, _join(here, "per_day"), 1),
                             bool(spec.get("once", defaults[name].once)),
                             self.integer(spec["photo_points"], _join(here, "photo_points")) if "photo_points" in spec else None,
                             self.integer(spec["video_points"], _join(here, "video_points")) if "video_points" in spec else None)
        return out

    def referral(self, raw: Any, path: str) -> Referral:
        body = self.mapping(raw, path, {"window_days", "review_days", "reward", "caps", "ring_size", "disposable_domains"})
        reward = self.mapping(body.get("reward"), _join(path, "reward"), {"value", "min_order", "valid_days"})
        caps = self.mapping(body.get("caps"), _join(path, "caps"), {"per_person", "per_household", "campaign_budget"})
        d = Referral()
        domains = body.get("disposable_domains")
        if domains is not None and (not isinstance(domains, list) or not all(isinstance(x, str) for x in domains)):
            self.fail(_join(path, "disposable_domains"), "a list of e-mail domains")
        return Referral(
            self.integer(body.get("window_days", d.window_days), _join(path, "window_days"), 1),
            self.integer(body.get("review_days", d.review_days), _join(path, "review_days")),
            self.cents(reward["value"], _join(path, "reward.value")) if "value" in reward else d.reward_cents,
            self.cents(reward["min_order"], _join(path, "reward.min_order")) if "min_order" in reward else d.min_order_cents,
            self.integer(reward.get("valid_days", d.valid_days), _join(path, "reward.valid_days"), 1),
            self.integer(caps["per_person"], _join(path, "caps.per_person"), 1) if "per_person" in caps else d.per_person,
            self.integer(caps["per_household"], _join(path, "caps.per_household"), 1) if "per_household" in caps
            else d.per_household,
            self.cents(caps["campaign_budget"], _join(path, "caps.campaign_budget")) if "campaign_budget" in caps
            else d.budget_cents,
            self.integer(body.get("ring_size", d.ring_size), _join(path, "ring_size"), 2),
            tuple(x.lower() for x in domains) if domains is not None else d.disposable_domains)

    def assists(self, raw: Any, path: str) -> dict[str, AssistCampaign]:
        body = self.mapping(raw, path, set(map(str, raw or {})))
        out = {}
        for name, spec in body.items():
            here = _join(path, str(name))
            spec = self.mapping(spec, here, {"unlock", "per_helper_per_day", "per_initiator", "wechat_external_links"})
            unlock = spec.get("unlock")
            if not isinstance(unlock, dict) or not unlock:
                self.fail(_join(here, "unlock"), "a mapping of assists needed to what they unlock, e.g. {3: sample}")
            steps = []
            for n, prize in unlock.items():
                if isinstance(n, bool) or not isinstance(n, int) or n < 1 or not isinstance(prize, str):
                    self.fail(_join(here, f"unlock.{n}"), "a whole number of assists ≥ 1 mapped to a prize name")
                steps.append((n, prize))
            links = spec.get("wechat_external_links", False)
            if not isinstance(links, bool):
                self.fail(_join(here, "wechat_external_links"), "true or false")
            if links:
                self.fail(_join(here, "wechat_external_links"),
                          "assist (助力) campaigns may not run on WeChat external links: WeChat's external-link rules "
                          "ban inducements to share (助力, 砍价, 集赞); run it inside a mini program or WeCom instead")
            out[str(name)] = AssistCampaign(str(name), tuple(sorted(steps)),
                                            self.integer(spec.get("per_helper_per_day", 3), _join(here, "per_helper_per_day"), 1),
                                            self.integer(spec.get("per_initiator", 1), _join(here, "per_initiator"), 1),
                                            links)
        return out


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
