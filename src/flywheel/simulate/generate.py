"""`generate()`: write a simulated merchant's exports and ground truth, chunk by chunk.

Persons are drawn in chunks of 10,000 with generators seeded by (seed, chunk), so memory stays flat
at a million persons and the same seed and size give byte-identical files.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import numpy as np

from flywheel.simulate import community
from flywheel.simulate.ads import SpendTable
from flywheel.simulate.catalog import PERIOD_END, PERIOD_START, TRUE_PARAMS
from flywheel.simulate.dice import Dice
from flywheel.simulate.events import person_events, plan_referrals
from flywheel.simulate.exports import (
    douyin_rows,
    jd_rows,
    shopify_rows,
    taobao_rows,
    wecom_rows,
)
from flywheel.simulate.population import Person, make_persons, scramble
from flywheel.simulate.purchases import Order, simulate_person
from flywheel.simulate.traps import TrapRecord, malformed_rows, plan_traps
from flywheel.simulate.truth import (
    AccountLedger,
    PairCounter,
    order_row,
    person_row,
    write_documents,
)
from flywheel.simulate.writers import EXPORT_FILES, export_files, truth_files

log = logging.getLogger(__name__)

CHUNK = 10_000
#: taobao_orders.csv ends here; taobao_orders_2.csv starts a month earlier (overlapping re-export).
FIRST_EXPORT_END = PERIOD_END - timedelta(days=90)
SECOND_EXPORT_START = FIRST_EXPORT_END - timedelta(days=30)
_STORES = {"taobao": ("58120934", "山野生活小店"), "tmall": ("71829304", "山野旗舰店")}
_ACCOUNT_REF = {"taobao": "taobao_nick", "tmall": "taobao_nick", "jd": "jd_pin",
                "douyin": "douyin_id"}


@dataclass
class GenerateSummary:
    """What `generate()` wrote: data rows per file (relative path) and the time it took."""

    out_dir: Path
    persons: int
    files: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


class OrderIds:
    """Platform-shaped order numbers from running counters: unique, unordered-looking."""

    def __init__(self, seed: int):
        self.salt = seed * 104729
        self.count = {"taobao": 0, "jd": 0, "douyin": 0, "douyin_sub": 0, "shopify": 0}

    def _next(self, kind: str) -> int:
        self.count[kind] += 1
        return self.count[kind]

    def __call__(self, source: str) -> str:
        if source in ("taobao", "tmall"):
            return str(3 * 10**18 + scramble(self._next("taobao"), 18, self.salt))
        if source == "jd":
            return str(3 * 10**11 + scramble(self._next("jd"), 11, self.salt))
        if source == "douyin":
            return str(69 * 10**17 + scramble(self._next("douyin"), 17, self.salt))
        return f"#{1000 + self._next('shopify')}"

    def sub_order(self) -> str:
        return str(68 * 10**17 + scramble(self._next("douyin_sub"), 17, self.salt + 1))


def _write_order(files, rng: Dice, order: Order, ids: OrderIds, ledger: AccountLedger) -> bool:
    """Write one order to its source's export; returns whether it is in the duplicate export."""
    person, source = order.person, order.source
    duplicated = False
    if source == "shopify":
        files.write_many("shopify/orders_export.csv", shopify_rows(rng, order))
        ledger.add("shopify", order.email.lower(), person)
    elif source in ("taobao", "tmall"):
        rows = taobao_rows(rng, order, _STORES[source])
        if source == "tmall":
            files.write_many("tmall/tmall_orders.csv", rows)
        else:
            if order.created < FIRST_EXPORT_END:
                files.write_many("taobao/taobao_orders.csv", rows)
            if order.created >= SECOND_EXPORT_START:
                files.write_many("taobao/taobao_orders_2.csv", taobao_rows(rng, order, _STORES[source]))
                duplicated = order.created < FIRST_EXPORT_END
    elif source == "jd":
        files.write_many("jd/jd_orders.csv", jd_rows(rng, order))
    else:
        sub_ids = [ids.sub_order() for _ in order.items]
        files.write_many("douyin/douyin_orders.csv", douyin_rows(rng, order, sub_ids))
    if source in _ACCOUNT_REF:
        ledger.add(source, getattr(person, _ACCOUNT_REF[source]), person)
    return duplicated


def _write_malformed(files, records: list[TrapRecord]) -> None:
    widths = {rel: len(header) for rel, (_, header) in EXPORT_FILES.items() if header}
    for rel, bad_rows in malformed_rows(widths).items():
        for row, reason in bad_rows:
            line = files.write(rel, row)
            records.append(TrapRecord("malformed_row", f"{rel}:{line}", [], reason))


def _chunk(files, truth, seed, chunk, first, count, spend, ids, pairs, records, messages) -> None:
    persons = make_persons(seed, chunk, first, count)
    if chunk == 0:
        records.extend(plan_traps(np.random.default_rng([seed, 0, 9]), persons, seed))
    rng = np.random.default_rng([seed, chunk, 2])
    dice = Dice(np.random.default_rng([seed, chunk, 6]))
    histories = [simulate_person(rng, dice, p, spend, ids) for p in persons]
    referrals = plan_referrals(np.random.default_rng([seed, chunk, 3]), persons)
    shares: dict[int, list] = {}
    accepted: dict[int, list] = {}
    referred_by: dict[int, str] = {}
    for share in referrals:
        shares.setdefault(share.inviter.n, []).append(share)
        for invitee, _ in share.invitees:
            accepted.setdefault(invitee.n, []).append(share)
            referred_by[invitee.n] = share.inviter.person_id
    ledger = AccountLedger()
    rng_rows = Dice(np.random.default_rng([seed, chunk, 4]))
    orders = sorted((o for h in histories for o in h.orders), key=lambda o: o.created)
    for order in orders:
        duplicated = _write_order(files, rng_rows, order, ids, ledger)
        truth.write("truth/orders.csv", order_row(order, duplicated))
        if order.status not in ("cancelled", "pending"):
            pairs.add(order)
    dice_events = Dice(np.random.default_rng([seed, chunk, 5]))
    lines = [line for p, h in zip(persons, histories)
             for line in person_events(dice_events, p, h, shares.get(p.n, []), accepted.get(p.n, []))]
    lines.sort(key=lambda e: e.at)
    for event in lines:
        files.write("events/events.jsonl", event.line)
        truth.write("truth/events.csv", (event.message_id, event.person.person_id, event.source))
        for ref in event.account_refs:
            ledger.add(event.source, ref, event.person)
    joined = _write_contacts(files, rng_rows, persons, ledger)
    _write_community(files, truth, seed, chunk, persons, joined, ledger, messages)
    for p, h in zip(persons, histories):
        truth.write("truth/persons.csv", person_row(p, h, referred_by.get(p.n, ""), TRUE_PARAMS.p))
    truth.write_many("truth/accounts.csv", ledger.rows())
    if chunk == 0:
        _write_malformed(files, records)


def _write_contacts(files, rng: Dice, persons: list[Person], ledger: AccountLedger) -> dict[int, int]:
    """Write the WeCom contacts; returns when each was added, in ms since PERIOD_START (local)."""
    span = (PERIOD_END - PERIOD_START).days
    joined = {}
    for p in persons:
        if not p.wecom:
            continue
        day = min(span - 0.01, p.acquired_day + rng.between(0, 60))
        seconds = int(day * 86400)
        files.write_many("wecom/wecom_contacts.csv", wecom_rows(rng, p, _PERIOD_START_UNIX + seconds))
        ledger.add("wecom", p.external_userid, p)
        joined[p.n] = seconds * 1000
    return joined


def _write_community(files, truth, seed: int, chunk: int, persons: list[Person],
                     joined: dict[int, int], ledger: AccountLedger, messages: "MessageTally") -> None:
    """The contacts' community events in time order, their truth, and the community accounts."""
    rng = np.random.default_rng([seed, chunk, 7])
    lives = [community.live(rng, p, joined[p.n]) for p in persons if p.n in joined]
    per_life = [community.event_lines(rng, life, seed) for life in lives]
    at = np.concatenate([e.at for e in per_life] + [np.zeros(0, np.int64)])
    order = np.argsort(at, kind="stable").tolist()
    lines = [line for e in per_life for line in e.lines]
    truth_rows = [(mid, life.person.person_id, community.SOURCE)
                  for life, e in zip(lives, per_life) for mid in e.message_ids]
    files.write_lines("community/events.jsonl", [lines[k] for k in order])
    truth.write_rows("truth/events.csv", [truth_rows[k] for k in order])
    for life, e in zip(lives, per_life):
        if e.lines:
            ledger.add(community.SOURCE, community.visitor_id(life.person, seed), life.person)
        truth.write("truth/community.csv", community.truth_row(life))
        truth.write_rows("truth/community_inactivity.csv", community.inactivity_rows(life))
        messages.add(life)


class MessageTally:
    """Recipients and readers of each brand mass message, summed over chunks."""

    def __init__(self):
        self.recipients = np.zeros(len(community.MESSAGES), np.int64)
        self.opens = np.zeros(len(community.MESSAGES), np.int64)

    def add(self, life: community.CommunityLife) -> None:
        self.recipients += community.sent_after(life.joined)
        np.add.at(self.opens, life.message_k, 1)


_PERIOD_START_UNIX = 1704038400  # 2024-01-01 00:00 in Asia/Shanghai


def generate(out_dir: Path, persons: int = 20_000, seed: int = 7,
             progress: Callable[[int, int], None] | None = None) -> GenerateSummary:
    """Write simulated exports under `out_dir` and the ground truth under `out_dir/truth`."""
    started = time.perf_counter()
    out_dir = Path(out_dir)
    spend, ids, pairs = SpendTable(seed, persons), OrderIds(seed), PairCounter()
    records: list[TrapRecord] = []
    messages = MessageTally()
    with export_files(out_dir) as files, truth_files(out_dir) as truth:
        files.write_many("ads/ad_spend.csv", spend.rows())
        for chunk, first in enumerate(range(0, persons, CHUNK)):
            count = min(CHUNK, persons - first)
            _chunk(files, truth, seed, chunk, first, count, spend, ids, pairs, records, messages)
            log.info("generated %d of %d persons", first + count, persons)
            if progress:
                progress(first + count, persons)
        _summary_traps(records)
        truth.write_many("truth/traps.csv", (r.row() for r in records))
        truth.write_many("truth/wecom_messages.csv",
                         community.message_rows(messages.recipients.tolist(), messages.opens.tolist()))
        rows = {**files.rows, **truth.rows}
    write_documents(out_dir, seed, persons, pairs, ids.count)
    return GenerateSummary(out_dir, persons, rows, round(time.perf_counter() - started, 3))


def _summary_traps(records: list[TrapRecord]) -> None:
    """Traps that are counts over the whole run rather than planted persons."""
    records.append(TrapRecord(
        "duplicate_export", "taobao/taobao_orders_2.csv", [],
        f"re-export of {SECOND_EXPORT_START:%Y-%m-%d}..{PERIOD_END:%Y-%m-%d}; orders before "
        f"{FIRST_EXPORT_END:%Y-%m-%d} also appear in taobao/taobao_orders.csv "
        "(truth/orders.csv in_duplicate_export=1)"))
    records.append(TrapRecord("refund", "truth/orders.csv", [],
                              "status refunded / partially_refunded with refund > 0"))
    records.append(TrapRecord("gift_receiver", "truth/orders.csv", [],
                              "gift=1: receiver name and phone are a family member's"))
