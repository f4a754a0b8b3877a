"""Planted traps: the real-data hazards identity resolution and ingest must survive.

Traps are planted on persons of the first chunk (so even a 300-person run has every kind) and each is
recorded as one row of `truth/traps.csv`: kind, value, person_ids, note.
"""

from dataclasses import dataclass

import numpy as np

from flywheel.simulate.population import Person

TRAPS_HEADER = ("kind", "value", "person_ids", "note")
OFFICE_PHONE = "13957188888"
PLACEHOLDER_PHONES = ("13800138000", "00000000000")
PLACEHOLDER_EMAIL = "test@test.com"


@dataclass
class TrapRecord:
    kind: str
    value: str
    persons: list[Person]
    note: str

    def row(self) -> list[str]:
        return [self.kind, self.value, "|".join(p.person_id for p in self.persons), self.note]


def _transpose(text: str, rng: np.random.Generator) -> str:
    """Swap two adjacent distinct letters: the commonest typing slip."""
    spots = [i for i in range(1, len(text) - 1)
             if text[i].isalpha() and text[i + 1].isalpha() and text[i] != text[i + 1]]
    if not spots:
        return text + text[-1]
    i = spots[int(rng.integers(len(spots)))]
    return text[:i] + text[i + 1] + text[i] + text[i + 2:]


def plan_traps(rng: np.random.Generator, persons: list[Person], seed: int) -> list[TrapRecord]:
    """Mark trap persons (in `person.traps`) and describe every trap planted."""
    used: set[int] = set()

    def take(count: int, want) -> list[Person]:
        chosen = []
        for i in rng.permutation(len(persons)):
            p = persons[int(i)]
            if p.n not in used and want(p):
                chosen.append(p)
                used.add(p.n)
                if len(chosen) == count:
                    break
        return chosen

    buyer_cn = lambda p: p.region == "CN" and not p.never_buyer  # noqa: E731
    shopify_buyer = lambda p: "shopify" in p.order_sources and not p.never_buyer  # noqa: E731
    records = []

    office = take(4, buyer_cn)
    for p in office:
        p.traps["office_phone"] = OFFICE_PHONE
    records.append(TrapRecord("shared_phone", OFFICE_PHONE, office,
                              "office phone given as receiver phone by colleagues"))

    for family_no in range(2):
        family = take(int(rng.integers(2, 5)), lambda p: p.region == "CN")
        device = f"anon-family{family_no}-{rng.bytes(6).hex()}"
        for member in family:
            member.traps["family_device"] = device
            member.province, member.city = family[0].province, family[0].city
            member.district, member.street = family[0].district, family[0].street
        records.append(TrapRecord("shared_device", device, family,
                                  "family sharing one device and one address"))

    kiosk_id = f"anon-kiosk-{rng.bytes(6).hex()}"
    kiosk = take(25, lambda p: bool(p.devices))
    for p in kiosk:
        p.traps["kiosk_device"] = kiosk_id
    records.append(TrapRecord("kiosk_cookie", kiosk_id, kiosk,
                              "public in-store kiosk: one anonymousId used by many persons"))

    for value in PLACEHOLDER_PHONES:
        holders = take(3, buyer_cn)
        for p in holders:
            p.traps["placeholder_phone"] = value
        records.append(TrapRecord("placeholder_phone", value, holders,
                                  "placeholder typed as receiver phone by unrelated persons"))
    holders = take(3, shopify_buyer)
    for p in holders:
        p.traps["placeholder_email"] = PLACEHOLDER_EMAIL
    records.append(TrapRecord("placeholder_email", PLACEHOLDER_EMAIL, holders,
                              "placeholder email on web-shop orders of unrelated persons"))

    for p in take(3, shopify_buyer):
        local, domain = p.email.split("@")
        p.traps["typo_email"] = f"{_transpose(local, rng)}@{domain}"
        records.append(TrapRecord("typo_email", p.traps["typo_email"], [p],
                                  f"transposed letters in {p.email} on some orders"))
    for p in take(2, lambda p: p.region != "CN" and not p.never_buyer):
        first, last = p.name.split(" ", 1)
        p.traps["typo_name"] = f"{_transpose(first, rng)} {last}"
        records.append(TrapRecord("typo_name", p.traps["typo_name"], [p],
                                  f"transposed letters in receiver name {p.name}"))
    pinyin = take(4, buyer_cn)
    for p in pinyin:
        p.traps["pinyin_name"] = p.name_pinyin
    records.append(TrapRecord("pinyin_name", "|".join(p.name_pinyin for p in pinyin), pinyin,
                              "receiver and WeCom names written in pinyin instead of hanzi"))
    return records


def malformed_rows(width: dict[str, int]) -> dict[str, list[tuple[list[str] | str, str]]]:
    """Broken rows per file, each with the reason it must be quarantined."""
    shopify = [""] * width["shopify/orders_export.csv"]
    shopify[0], shopify[2], shopify[10], shopify[13], shopify[15] = \
        "#99990001", "paid", "199.00", "2024-13-45 25:61:00", "Rose Tea"
    taobao = width["taobao/taobao_orders.csv"]
    no_id = ["", "tb_missing_id", "", "99.00", "0.00", "99.00", "99.00", "交易成功"] + [""] * (taobao - 8)
    no_id[14] = "2024-05-01 10:00:00"
    bad_amount = ["9999000000000000001", "tb_bad_amount", "", "abc", "0.00", "abc", "abc",
                  "交易成功"] + [""] * (taobao - 8)
    bad_amount[14] = "2024-05-02 11:00:00"
    return {
        "shopify/orders_export.csv": [(shopify, "bad date 2024-13-45")],
        "taobao/taobao_orders.csv": [(no_id, "missing order id"),
                                     (bad_amount, "non-numeric amount abc")],
        "jd/jd_orders.csv": [(["300000000001", "100012000000", "山野 玫瑰花茶", "1", "在线支付"],
                              "wrong number of columns")],
        "events/events.jsonl": [('{"type":"track","event":"Product Viewed","messageId":"broken-1",',
                                 "truncated JSON line"),
                                ('{"type":"track","event":"Product Viewed","messageId":"broken-2",'
                                 '"timestamp":"2024-05-01T02:00:00.000Z","properties":{}}',
                                 "neither userId nor anonymousId")],
    }
