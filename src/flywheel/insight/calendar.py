"""The merchant's calendar: days as whole numbers, weeks from Monday, months — and the period a
metric covers.

Days are counted on the merchant's wall clock (`settings.timezone`) as days since 1970-01-01, the
same arithmetic the traits use, so both engines agree without time-zone functions. A small calendar
memtable maps each day of the data to its week and month; joining it is cheaper and more portable
than calendar functions in the engine.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import ibis

from flywheel.errors import InputError

DAY = 86_400
EPOCH = dt.date(1970, 1, 1)
GRAINS = ("day", "week", "month")


def day_number(d: dt.date) -> int:
    return (d - EPOCH).days


def day_date(n: int) -> dt.date:
    return EPOCH + dt.timedelta(days=int(n))


def offset_seconds(tz, at: dt.datetime | None = None) -> int:
    """The merchant's UTC offset now (or at `at`); zones with summer time shift days by an hour at the change."""
    at = at or dt.datetime.now(dt.timezone.utc)
    return int((at.astimezone(tz).utcoffset() or dt.timedelta(0)).total_seconds())


def local_day(ts: ibis.Value, offset: int) -> ibis.Value:
    return ((ts.epoch_seconds().floor().cast("int64") + offset) / DAY).floor().cast("int64")


def period_of(day: int, grain: str) -> int:
    """Index of the day's week (Mondays) or month since 1970; the day itself for `day`."""
    if grain == "day":
        return day
    if grain == "week":
        return (day + 3) // 7
    d = day_date(day)
    return (d.year - 1970) * 12 + d.month - 1


def period_start(index: int, grain: str) -> dt.date:
    if grain == "day":
        return day_date(index)
    if grain == "week":
        return day_date(index * 7 - 3)
    return dt.date(1970 + index // 12, index % 12 + 1, 1)


def period_label(index: int, grain: str) -> str:
    start = period_start(index, grain)
    if grain == "month":
        return start.strftime("%Y-%m")
    if grain == "week":
        iso = start.isocalendar()
        return f"{iso.year}-W{iso.week:02d}"
    return start.isoformat()


def calendar(first: int, last: int, grain: str) -> ibis.Table:
    """`day, period` for every day from `first` to `last` (a few thousand rows at most)."""
    days = list(range(first, last + 1))
    return ibis.memtable({"day": days, "period": [period_of(d, grain) for d in days]},
                         schema={"day": "int64", "period": "int64"})


def check_grain(grain: str) -> str:
    if grain not in GRAINS:
        raise InputError(f"grain {grain!r}: use one of {', '.join(GRAINS)}")
    return grain


@dataclass(frozen=True)
class Period:
    """Days `start` to `end`, both included, on the merchant's calendar (None: open)."""

    start: dt.date | None = None
    end: dt.date | None = None

    def __post_init__(self):
        if self.start and self.end and self.start > self.end:
            raise InputError(f"period: start {self.start} is after end {self.end}")

    @classmethod
    def parse(cls, start: str | None, end: str | None) -> "Period":
        def one(name: str, value: str | None) -> dt.date | None:
            if value in (None, ""):
                return None
            try:
                return dt.date.fromisoformat(value)
            except ValueError:
                raise InputError(f"{name} {value!r}: use a date as YYYY-MM-DD") from None

        return cls(one("start", start), one("end", end))

    def days(self) -> tuple[int | None, int | None]:
        return (day_number(self.start) if self.start else None, day_number(self.end) if self.end else None)

    def contains(self, day: ibis.Value) -> ibis.Value:
        first, last = self.days()
        cond = ibis.literal(True)
        if first is not None:
            cond &= day >= first
        if last is not None:
            cond &= day <= last
        return cond

    def as_json(self) -> dict:
        return {"start": self.start.isoformat() if self.start else None,
                "end": self.end.isoformat() if self.end else None}
