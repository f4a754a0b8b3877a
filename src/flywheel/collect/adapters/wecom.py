"""WeCom (企业微信) external-contact export: one row per (external contact, follow-up employee).

Each external contact is an account keyed by `external_userid`; the employee who added it owns it,
and the `state` of the QR code or link used is its acquisition channel. Adding a contact is itself
consent to be contacted on WeCom, so every row records `wecom_outreach` granted at `createtime`.
"""

from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.compute as pc

from flywheel.collect.adapters.base import (
    Adapter,
    Batch,
    Columns,
    ReadContext,
    identifier_rows,
    lines_array,
)
from flywheel.collect.adapters.orders import (
    consent_rows,
    join_values,
    landed,
    split_values,
)
from flywheel.collect.reading import RawTable
from flywheel.collect.values import Problems, parse_time
from flywheel.identifiers import map_distinct, mask_value, normalize_name


class WeComContacts(Adapter):
    name = "wecom"
    source = "wecom"
    description = "WeCom external-contact export, one row per contact and follow-up employee"
    signature = (("external_userid",), ("follow_userid", "添加人"))
    columns = {
        "external_userid": ("external_userid",),
        "unionid": ("unionid",),
        "name": ("name", "客户名称"),
        "remark": ("remark", "备注"),
        "follow_userid": ("follow_userid", "添加人"),
        "remark_mobiles": ("remark_mobiles", "备注手机号"),
        "tags": ("tags", "标签"),
        "add_way": ("add_way", "添加方式"),
        "state": ("state", "渠道"),
        "createtime": ("createtime", "添加时间"),
    }
    required = ("external_userid", "createtime")

    def read(self, raw: RawTable, ctx: ReadContext) -> Batch:
        source = ctx.source or self.source
        c = Columns(raw, self.columns)
        field = c.names()
        lines = lines_array(raw)
        p = Problems(raw.num_rows)
        account_key = c["external_userid"]
        p.require(account_key, field["external_userid"], "external_userid is missing")
        added_at, bad_added = parse_time(c["createtime"], ctx.timezone)
        p.require(c["createtime"], field["createtime"], f"time added ({field['createtime']}) is missing")
        p.reject(bad_added, field["createtime"], c["createtime"], "unparseable date-time or Unix time")

        name = pc.coalesce(map_distinct(c["remark"], remark_name), map_distinct(c["name"], normalize_name))
        batch = Batch(problems=p, source=source)
        batch.add("accounts", landed({
            "source": source, "account_key": account_key, "account_key_type": "wecom_external_userid",
            "display_key": map_distinct(account_key, lambda v: mask_value(v, "wecom_external_userid")),
            "name": name, "name_masked": map_distinct(name, lambda v: v[:1] + "**"),
            "tags": join_values(c["tags"]), "owner": c["follow_userid"], "channel": c["state"],
            "first_seen_at": added_at,
        }, p, lines))

        common = dict(source=source, account_key=account_key, seen_at=added_at, lines=lines)
        batch.add("identifiers", identifier_rows(ctx, p, id_type="wecom_external_userid", values=account_key,
                                                 field_name=field["external_userid"], **common))
        batch.add("identifiers", identifier_rows(ctx, p, id_type="wechat_unionid", values=c["unionid"],
                                                 field_name=field["unionid"], **common))
        for phone in split_values(c["remark_mobiles"]):
            batch.add("identifiers", identifier_rows(ctx, p, id_type="phone", values=phone,
                                                     field_name=field["remark_mobiles"], **common))

        granted = pa.array(["granted"] * raw.num_rows, pa.string())
        batch.add("consents", consent_rows(account_key, source, "wecom_outreach", granted, added_at, lines,
                                           str(raw.path), p))
        return batch


_REMARK_SUFFIX = re.compile(r"\s*[-—–_/|(（].*$")


def remark_name(remark: str) -> str | None:
    """The customer's name as the employee noted it: `田辉涵-新客` → `田辉涵`.

    Sales staff write the real name into the remark; the contact's own `name` is often a WeChat
    nickname (向日葵), so the remark is the better name for matching when it has one.
    """
    text = normalize_name(_REMARK_SUFFIX.sub("", normalize_name(remark)))
    return text or None
