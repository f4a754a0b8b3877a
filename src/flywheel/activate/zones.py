"""A person's time zone: the latest `context.timezone` of their events, else their country's, else
the merchant's (None here; callers fall back to `FLYWHEEL_TIMEZONE`)."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import ibis

from flywheel.warehouse import account_persons

COUNTRY_ZONES = {
    "CN": "Asia/Shanghai", "HK": "Asia/Hong_Kong", "TW": "Asia/Taipei", "SG": "Asia/Singapore", "JP": "Asia/Tokyo",
    "KR": "Asia/Seoul", "US": "America/New_York", "CA": "America/Toronto", "GB": "Europe/London",
    "IE": "Europe/Dublin", "DE": "Europe/Berlin", "FR": "Europe/Paris", "IT": "Europe/Rome", "ES": "Europe/Madrid",
    "NL": "Europe/Amsterdam", "SE": "Europe/Stockholm", "AU": "Australia/Sydney",
}
"""A country's most populous zone: a guess only used when no event said where the person is."""


def _valid(name: str | None) -> bool:
    if not name:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def person_zones(wh, persons: list[str]) -> dict[str, str]:
    if not persons:
        return {}
    wanted = ibis.memtable({"person_id": sorted(set(persons))}, schema={"person_id": "string"})
    accounts = account_persons(wh).view().semi_join(wanted, "person_id")
    events = wh.table("events")
    events = events.filter(events.context.notnull() & events.context.contains('"timezone"'))
    events = events.mutate(account_key=ibis.coalesce(events.user_id, ibis.literal("anon:") + events.anonymous_id))
    e = events.join(accounts, ["source", "account_key"])
    e = e.mutate(zone=wh.json_text(e.context, "timezone"))
    latest = e.filter(e.zone.notnull()).select("person_id", "zone", "timestamp")
    found: dict[str, str] = {}
    for r in wh.fetch(latest.order_by(["person_id", "timestamp"])).to_pylist():
        if _valid(r["zone"]):
            found[r["person_id"]] = r["zone"]
    missing = [p for p in set(persons) if p not in found]
    if missing:
        traits = wh.table("person_traits")
        rows = wh.fetch(traits.filter(traits.person_id.isin(missing)).select("person_id", "country")).to_pylist()
        for r in rows:
            zone = COUNTRY_ZONES.get((r["country"] or "").upper())
            if zone:
                found[r["person_id"]] = zone
    return found


class ZoneBook:
    """Time zones looked up once per tick: the plan's `wait_until` steps and the outbox's quiet hours
    ask about the same persons, and each lookup reads every event that states a zone."""

    def __init__(self, wh):
        self.wh = wh
        self.known: dict[str, str] = {}
        self.looked: set[str] = set()

    def of(self, persons: list[str]) -> dict[str, str]:
        missing = sorted(set(persons) - self.looked)
        if missing:
            self.known.update(person_zones(self.wh, missing))
            self.looked.update(missing)
        return {p: self.known[p] for p in persons if p in self.known}
