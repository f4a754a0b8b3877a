"""Write the response model's orders as the platforms' next exports, plus their truth.

The orders go where the person shops (their platforms, weighted as in the period); an order that
uses a coupon is placed in the brand's own shop, whose export carries the code. Order ids continue
each platform's numbering from the generated merchant (or from an earlier response export), so the
files ingest next to the period's exports without a clash.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

from flywheel.collect import GROUND_TRUTH_MARKER
from flywheel.errors import InputError
from flywheel.simulate.catalog import UTC_OFFSET_HOURS
from flywheel.simulate.dice import Dice
from flywheel.simulate.exports import douyin_rows, jd_rows, money, shopify_rows, taobao_rows
from flywheel.simulate.generate import _STORES, CHUNK, OrderIds
from flywheel.simulate.population import Person, make_persons
from flywheel.simulate.purchases import Order, _items, outcome, receiver
from flywheel.simulate.response import Response
from flywheel.simulate.traps import plan_traps
from flywheel.simulate.truth import order_row
from flywheel.simulate.writers import EXPORT_FILES, TRUTH_FILES

log = logging.getLogger(__name__)

_FILES = {"shopify": "shopify/orders_export.csv", "taobao": "taobao/taobao_orders.csv",
          "tmall": "tmall/tmall_orders.csv", "jd": "jd/jd_orders.csv", "douyin": "douyin/douyin_orders.csv"}
RESPONSES_HEADER = ("source", "order_id", "person_id", "created_at", "cause", "channel", "offer",
                    "coupon_code", "discount")


@dataclass
class ResponseExport:
    """What `write_orders` wrote: data rows per file and the counters the next export continues."""

    out_dir: Path
    files: dict[str, int] = field(default_factory=dict)
    order_counters: dict[str, int] = field(default_factory=dict)


def _counters(folder: Path) -> tuple[int, int, dict[str, int]]:
    try:
        record = json.loads((folder / "truth" / "params.json").read_text(encoding="utf-8"))
        return record["seed"], record["persons"], dict(record["order_counters"])
    except (OSError, KeyError, ValueError) as e:
        raise InputError(f"{folder}/truth/params.json: no seed, persons and order counters ({e})") from None


def rebuild_persons(seed: int, persons: int, wanted: set[int]) -> dict[int, Person]:
    """The generated persons numbered in `wanted`, exactly as `generate` drew them (traps included)."""
    out = {}
    for chunk, first in enumerate(range(0, persons, CHUNK)):
        count = min(CHUNK, persons - first)
        if not any(first <= n < first + count for n in wanted):
            continue
        drawn = make_persons(seed, chunk, first, count)
        if chunk == 0:
            plan_traps(np.random.default_rng([seed, 0, 9]), drawn, seed)
        out |= {p.n: p for p in drawn if p.n in wanted}
    return out


def _dice(seed: int, response: Response) -> Dice:
    key = f"{response.person_id}|{response.cause}|{response.at.isoformat()}"
    digest = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big")
    return Dice(np.random.default_rng([seed, 0x0E5C, digest & 0xFFFFFFFF, digest >> 32]))


def _local(at: datetime) -> datetime:
    """UTC instant → merchant-local naive time in whole seconds, as the exports write it."""
    if at.tzinfo is None:
        raise InputError(f"time {at.isoformat()} has no time zone")
    utc = at.astimezone(timezone.utc).replace(tzinfo=None)
    return (utc + timedelta(hours=UTC_OFFSET_HOURS)).replace(microsecond=0)


def write_orders(out_dir: Path, data_dir: Path, responses: Iterable[Response],
                 exported: datetime | None = None, after: Path | None = None) -> ResponseExport:
    """Write `responses` as export files under `out_dir` (same layout as `generate`) and
    `out_dir/truth/` (orders.csv as generate writes it, responses.csv with each order's cause).

    `exported`: when the exports were taken (statuses and refunds follow the orders' age then;
    default: the last order). `after`: an earlier response export whose numbering to continue
    (default: the generated merchant in `data_dir`).
    """
    seed, persons, counters = _counters(Path(data_dir))
    if after is not None:
        _, _, counters = _counters(Path(after))
    ordered = sorted(responses, key=lambda r: (r.at, r.person_id, r.cause))
    wanted = {int(r.person_id[1:]) - 1 for r in ordered}
    if any(n >= persons or n < 0 for n in wanted):
        raise InputError(f"responses name persons the merchant in {data_dir} does not have")
    people = rebuild_persons(seed, persons, wanted)
    exported = _local(exported) if exported else (_local(ordered[-1].at) if ordered else None)
    ids = OrderIds(seed)
    ids.count.update(counters)
    rows: dict[str, list] = {}
    truth_orders, truth_causes = [], []
    for response in ordered:
        person, dice = people[int(response.person_id[1:]) - 1], _dice(seed, response)
        source = "shopify" if response.coupon_code else \
            person.order_sources[dice.weighted(np.cumsum(person.source_weights))]
        paid = response.paid_cents
        order = Order(person, source, ids(source), _local(response.at), "", _items(dice, paid), paid,
                      discount_code=response.coupon_code, discount_cents=response.discount_cents)
        outcome(dice, order, max(exported, order.created))
        receiver(dice, order)
        rel = _FILES[source]
        if source == "shopify":
            rows.setdefault(rel, []).extend(shopify_rows(dice, order))
        elif source in _STORES:
            rows.setdefault(rel, []).extend(taobao_rows(dice, order, _STORES[source]))
        elif source == "jd":
            rows.setdefault(rel, []).extend(jd_rows(dice, order))
        else:
            rows.setdefault(rel, []).extend(douyin_rows(dice, order, [ids.sub_order() for _ in order.items]))
        truth_orders.append(order_row(order, False))
        touch = response.touch
        truth_causes.append([source, order.order_id, person.person_id, f"{order.created:%Y-%m-%d %H:%M:%S}",
                             response.cause, touch.channel if touch else "", touch.offer if touch else "",
                             response.coupon_code, money(response.discount_cents)])
    out_dir = Path(out_dir)
    export = ResponseExport(out_dir, order_counters=dict(ids.count))
    for rel, lines in sorted(rows.items()):
        encoding, header = EXPORT_FILES[rel]
        export.files[rel] = _write_csv(out_dir / rel, encoding, header, lines)
    truth = out_dir / "truth"
    export.files["truth/orders.csv"] = _write_csv(truth / "orders.csv", "utf-8", TRUTH_FILES["truth/orders.csv"],
                                                  truth_orders)
    export.files["truth/responses.csv"] = _write_csv(truth / "responses.csv", "utf-8", RESPONSES_HEADER,
                                                     truth_causes)
    (truth / GROUND_TRUTH_MARKER).write_text(
        "Ground truth of simulated responses; `flywheel ingest` skips this folder.\n")
    (truth / "params.json").write_text(json.dumps({
        "seed": seed, "persons": persons, "order_counters": export.order_counters,
        "exported": exported.isoformat() if exported else None}, indent=2) + "\n", encoding="utf-8")
    log.info("wrote %d response orders to %s", len(ordered), out_dir)
    return export


def _write_csv(path: Path, encoding: str, header, lines: list) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow(header)
        writer.writerows(lines)
    return len(lines)
