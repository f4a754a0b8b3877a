"""What every trait family shares: the as-of time, the merchant's clock, persons and small helpers.

Everything here builds Ibis expressions, so the same traits run on DuckDB and Spark. Times are
compared as epoch seconds and local calendar fields are computed by arithmetic on them, which both
engines translate identically (no engine-specific time-zone functions).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

import ibis

from flywheel.schema.orders import GMV_STATUSES  # noqa: F401  (the shared vocabulary; families read it here)
from flywheel.warehouse import Warehouse, account_persons

DAY = 86_400
WINDOWS = (30, 60, 90, 180, 365)


@dataclass
class TraitContext:
    """The warehouse, the as-of instant and the merchant's UTC offset, shared by every family."""

    wh: Warehouse
    as_of: dt.datetime
    offset_seconds: int
    _persons: ibis.Table | None = field(default=None, repr=False)

    @classmethod
    def create(cls, wh: Warehouse, as_of: dt.datetime) -> "TraitContext":
        if as_of.tzinfo is None:
            as_of = as_of.replace(tzinfo=dt.timezone.utc)
        offset = as_of.astimezone(wh.settings.tz).utcoffset() or dt.timedelta(0)
        return cls(wh, as_of.astimezone(dt.timezone.utc), int(offset.total_seconds()))

    @property
    def as_of_epoch(self) -> int:
        return math.floor(self.as_of.timestamp())

    @property
    def accounts(self) -> ibis.Table:
        """`source, account_key, person_id` of every account."""
        if self._persons is None:
            self._persons = account_persons(self.wh)
        return self._persons

    def epoch(self, ts: ibis.Value) -> ibis.Value:
        """Whole seconds since 1970 (floored, as on Spark; DuckDB would round a fraction)."""
        return ts.epoch_seconds().floor().cast("int64")

    def until_as_of(self, ts: ibis.Value) -> ibis.Value:
        """The instant is on or before the as-of time (later rows are the future)."""
        return self.epoch(ts) <= self.as_of_epoch

    def within(self, ts: ibis.Value, days: int) -> ibis.Value:
        """The instant lies in the `days` days up to the as-of time."""
        return self.epoch(ts) > self.as_of_epoch - days * DAY

    def days_since(self, ts: ibis.Value) -> ibis.Value:
        return (ibis.literal(self.as_of_epoch) - self.epoch(ts)).cast("float64") / DAY

    def local_seconds(self, ts: ibis.Value) -> ibis.Value:
        return self.epoch(ts) + self.offset_seconds

    def local_day(self, ts: ibis.Value) -> ibis.Value:
        """Whole days since 1970-01-01 on the merchant's calendar."""
        return (self.local_seconds(ts) / DAY).floor().cast("int64")

    def local_hour(self, ts: ibis.Value) -> ibis.Value:
        return ((self.local_seconds(ts) % DAY) / 3600).floor().cast("int64")

    def local_weekday(self, ts: ibis.Value) -> ibis.Value:
        """0 = Monday … 6 = Sunday (1970-01-01 was a Thursday)."""
        return (self.local_day(ts) + 3) % 7


def ratio(numerator: ibis.Value, denominator: ibis.Value) -> ibis.Value:
    """numerator / denominator as a float, null when the denominator is zero or null."""
    return ibis.cases((denominator > 0, numerator.cast("float64") / denominator.cast("float64")),
                      else_=ibis.null("float64"))


def count_if(condition: ibis.Value) -> ibis.Value:
    return condition.cast("int64").sum()


def yuan(cents: ibis.Value) -> ibis.Value:
    return cents.cast("float64") / 100


def mode(table: ibis.Table, value: str, name: str, share: str | None = None) -> ibis.Table:
    """Per person, the most frequent non-null `value` (ties: smallest value) and optionally its share."""
    present = table.filter(table[value].notnull())
    counts = present.group_by(["person_id", value]).agg(n=present.count())
    window = ibis.window(group_by="person_id", order_by=[ibis.desc("n"), value])
    total = ibis.window(group_by="person_id")
    ranked = counts.mutate(rank=ibis.row_number().over(window), total=counts.n.sum().over(total))
    top = ranked.filter(ranked["rank"] == 0)
    columns = {name: top[value]}
    if share:
        columns[share] = top.n.cast("float64") / top.total.cast("float64")
    return top.select("person_id", **columns)


def latest(table: ibis.Table, order_by: str, columns: dict[str, str]) -> ibis.Table:
    """Per person, `columns` of the row with the greatest `order_by` (ties: first by value order)."""
    window = ibis.window(group_by="person_id", order_by=[ibis.desc(order_by)] + list(columns.values()))
    ranked = table.mutate(rank=ibis.row_number().over(window))
    top = ranked.filter(ranked["rank"] == 0)
    return top.select("person_id", **{name: top[col] for name, col in columns.items()})


def earliest(table: ibis.Table, order_by: str, columns: dict[str, str]) -> ibis.Table:
    window = ibis.window(group_by="person_id", order_by=[ibis.asc(order_by)] + list(columns.values()))
    ranked = table.mutate(rank=ibis.row_number().over(window))
    top = ranked.filter(ranked["rank"] == 0)
    return top.select("person_id", **{name: top[col] for name, col in columns.items()})
