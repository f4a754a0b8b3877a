"""Daily advertising spend report: one row per campaign and day, English or Chinese headers.

Every ad platform (巨量引擎 / 千川, 腾讯广告, 阿里妈妈, Google Ads) offers this report; reduced to the
shared columns it fills `campaign_spend` (spend per campaign and merchant-local day) and `campaigns`
(one row per campaign, first day = earliest day with spend in the file), which ROI and attribution
read against touchpoints.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from flywheel.collect.adapters.base import (
    Adapter,
    Batch,
    Columns,
    ReadContext,
    lines_array,
)
from flywheel.collect.adapters.orders import landed, local_day
from flywheel.collect.reading import RawTable
from flywheel.collect.values import Problems, parse_money, parse_time
from flywheel.warehouse import LINE


class AdSpendReport(Adapter):
    name = "ad_spend"
    source = "ads"
    description = "Daily ad spend per campaign (巨量引擎, 腾讯广告, 阿里妈妈, Google Ads)"
    signature = (("date", "日期"), ("spend", "消耗"), ("campaign_id", "计划ID"))
    columns = {
        "date": ("date", "日期"),
        "channel": ("channel", "渠道"),
        "campaign_id": ("campaign_id", "计划ID"),
        "campaign_name": ("campaign_name", "计划名称"),
        "spend": ("spend", "消耗"),
        "impressions": ("impressions", "展示数"),
        "clicks": ("clicks", "点击数"),
    }
    required = ("date", "channel", "campaign_id", "spend")

    def read(self, raw: RawTable, ctx: ReadContext) -> Batch:
        c = Columns(raw, self.columns)
        lines = lines_array(raw)
        p = Problems(raw.num_rows)
        p.require(c["campaign_id"], "campaign_id", "campaign id is missing")
        p.require(c["channel"], "channel", "channel is missing")
        p.require(c["date"], "date", "date is missing")
        at, bad_date = parse_time(c["date"], ctx.timezone)
        p.reject(bad_date, "date", c["date"], "unparseable date")
        p.require(c["spend"], "spend", "spend is missing")
        spend, bad_spend = parse_money(c["spend"])
        p.reject(bad_spend, "spend", c["spend"], "not an amount of money")
        p.reject(np.asarray(pc.less(spend, 0).fill_null(False)), "spend", c["spend"], "spend is negative")
        impressions = p.count(c["impressions"], "impressions")
        clicks = p.count(c["clicks"], "clicks")

        day = local_day(at, ctx.timezone)
        batch = Batch(problems=p, source=ctx.source or self.source)
        spend_rows = landed({
            "campaign_id": c["campaign_id"], "day": day, "channel": c["channel"], "spend_cents": spend,
            "impressions": impressions, "clicks": clicks,
        }, p, lines)
        batch.add("campaign_spend", spend_rows)
        names = landed({"campaign_id": c["campaign_id"], "name": c["campaign_name"]}, p, lines)
        batch.add("campaigns", campaign_rows(spend_rows, names))
        return batch


def campaign_rows(spend: pa.Table, names: pa.Table) -> pa.Table:
    """One row per campaign: its channel and name as first seen, and its earliest day with spend."""
    rows = spend.append_column("name", names.column("name"))
    firsts = rows.group_by("campaign_id", use_threads=False).aggregate([
        ("day", "min"), ("channel", "first"), ("name", "first"), (LINE, "min"),
    ])
    return pa.table({
        "campaign_id": firsts.column("campaign_id"), "channel": firsts.column("channel_first"),
        "name": firsts.column("name_first"), "first_day": firsts.column("day_min"), LINE: firsts.column(f"{LINE}_min"),
    })
