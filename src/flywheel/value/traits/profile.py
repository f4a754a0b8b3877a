"""Profile traits: accounts, known identifier types, WeCom membership, location and consent."""

from __future__ import annotations

import ibis

from flywheel.value.traits.base import TraitContext, count_if, latest

PURPOSES = ("marketing_sms", "marketing_email", "wecom_outreach", "personalization")

UNITS = {
    "accounts": "accounts", "account_sources": "sources", "wecom_member": "flag",
    "wecom_joined_at": "UTC time", "wecom_owner": "employee", "wecom_channel": "channel code",
    "wecom_tags": "tags", "has_phone": "flag", "has_email": "flag", "has_wechat": "flag",
    "identifier_types": "types", "country": "ISO code", "province": "text", "city": "text",
    **{f"consent_{p}": "status" for p in PURPOSES}, "consents_granted": "purposes",
}
ZERO = {"accounts", "account_sources", "wecom_member", "wecom_tags", "has_phone", "has_email", "has_wechat",
        "identifier_types", "consents_granted"}


def _accounts(ctx: TraitContext) -> list[ibis.Table]:
    a = ctx.wh.table("accounts").join(ctx.accounts, ["source", "account_key"])
    totals = a.group_by("person_id").agg(accounts=a.count(), account_sources=a.source.nunique(),
                                         account_first_seen=a.first_seen_at.min(where=ctx.until_as_of(a.first_seen_at)))
    wecom = a.filter((a.source == "wecom") & (a.first_seen_at.isnull() | ctx.until_as_of(a.first_seen_at)))
    tags = wecom.tags.fill_null("")
    wecom = wecom.mutate(tag_count=ibis.cases(
        (tags == "", 0), else_=tags.length() - tags.replace("|", "").length() + 1).cast("int64"))
    joined = wecom.group_by("person_id").agg(wecom_joined_at=wecom.first_seen_at.min(),
                                             wecom_member=wecom.count() > 0)
    newest = latest(wecom, "first_seen_at", {"wecom_owner": "owner", "wecom_channel": "channel",
                                             "wecom_tags": "tag_count"})
    placed = a.filter(a.province.notnull() | a.city.notnull() | a.country.notnull())
    where = latest(placed, "first_seen_at", {"country": "country", "province": "province", "city": "city"})
    return [totals, joined, newest, where]


def _identifiers(ctx: TraitContext) -> ibis.Table:
    i = ctx.wh.table("identifiers").join(ctx.accounts, ["source", "account_key"])
    i = i.filter(i.first_seen_at.isnull() | ctx.until_as_of(i.first_seen_at))
    return i.group_by("person_id").agg(
        has_phone=count_if(i.id_type == "phone") > 0,
        has_email=count_if(i.id_type == "email") > 0,
        has_wechat=count_if(i.id_type.isin(("wechat_unionid", "wechat_openid"))) > 0,
        identifier_types=i.id_type.nunique(),
    )


def _consents(ctx: TraitContext) -> ibis.Table:
    c = ctx.wh.table("consents").join(ctx.accounts, ["source", "account_key"])
    c = c.filter(ctx.until_as_of(c.recorded_at))
    window = ibis.window(group_by=["person_id", "purpose"], order_by=[ibis.desc("recorded_at"), "status"])
    c = c.mutate(rank=ibis.row_number().over(window))
    c = c.filter(c["rank"] == 0)
    return c.group_by("person_id").agg(
        consents_granted=count_if(c.status == "granted"),
        **{f"consent_{p}": ibis.cases((c.purpose == p, c.status), else_=ibis.null("string")).max()
           for p in PURPOSES},
    )


def tables(ctx: TraitContext) -> list[ibis.Table]:
    return [*_accounts(ctx), _identifiers(ctx), _consents(ctx)]
