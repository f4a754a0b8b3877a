"""Ground-truth records: the person behind every account, order and event, and the true parameters.

Accounts are recorded as they are written to an export, so `truth/accounts.csv` covers exactly the
accounts a reader of the exports can see, including the shared ones planted as traps.
"""

import csv
import json
from collections import Counter
from itertools import combinations
from pathlib import Path

from flywheel.collect import GROUND_TRUTH_MARKER
from flywheel.simulate import community
from flywheel.simulate.ads import SPEND_REFERENCE_PERSONS
from flywheel.simulate.catalog import CHANNELS, COPURCHASE_PAIRS, params_record
from flywheel.simulate.exports import money
from flywheel.simulate.population import Person
from flywheel.simulate.purchases import Order, PurchaseHistory
from flywheel.simulate.response import RESPONSE


class AccountLedger:
    """Distinct (source, account_ref, person) triples of one chunk, in first-seen order."""

    def __init__(self):
        self._seen: dict[tuple[str, str, str], None] = {}

    def add(self, source: str, ref: str, person: Person) -> None:
        if ref:
            self._seen.setdefault((source, ref, person.person_id), None)

    def rows(self) -> list[tuple[str, str, str]]:
        return list(self._seen)


class PairCounter:
    """Counts orders per product and per planted pair, to report the observed lift."""

    def __init__(self):
        self.orders = 0
        self.single: Counter[str] = Counter()
        self.pairs: Counter[tuple[str, str]] = Counter()
        self._planted = {(a, b) for a, b, _ in COPURCHASE_PAIRS}

    def add(self, order: Order) -> None:
        skus = sorted({product.sku for product, _, _ in order.items})
        self.orders += 1
        self.single.update(skus)
        for a, b in combinations(skus, 2):
            if (a, b) in self._planted or (b, a) in self._planted:
                self.pairs[(a, b) if (a, b) in self._planted else (b, a)] += 1

    def lift(self, a: str, b: str) -> float:
        if not self.single[a] or not self.single[b]:
            return 0.0
        return round(self.pairs[(a, b)] * self.orders / (self.single[a] * self.single[b]), 3)


def person_row(p: Person, history: PurchaseHistory, referred_by: str, p_shape: float) -> list:
    first = f"{history.baseline_days[0]:.3f}" if history.baseline_days else ""
    return [p.person_id, p.name, p.name_pinyin, p.region, p.birthday, p.phone, p.email, p.province,
            p.city, f"{p.rate:.6f}", f"{p.dropout_p:.6f}", p_shape, f"{p.spend_scale:.6f}", first,
            int(p.never_buyer), int(history.alive_at_end), len(history.baseline_days),
            int(p.is_koc), referred_by, p.timezone]


def order_row(o: Order, duplicated: bool) -> list:
    return [o.source, o.order_id, o.person.person_id, o.created.strftime("%Y-%m-%d %H:%M:%S"),
            o.status, money(o.gross_cents), money(o.refund_cents),
            "|".join(f"{p.sku}x{q}" for p, q, _ in o.items), int(o.gift), o.incremental_channel,
            int(duplicated)]


def write_documents(out_dir: Path, seed: int, persons: int, pairs: PairCounter,
                    order_counters: dict[str, int]) -> None:
    """params.json, response.json, channel_effects.csv and copurchase_pairs.csv.

    `order_counters` (orders numbered per platform) lets a later export of the response model's
    orders continue the platforms' numbering without reusing an order id."""
    truth = out_dir / "truth"
    (truth / GROUND_TRUTH_MARKER).write_text("Ground truth of a simulated merchant; `flywheel ingest` skips this folder.\n")
    record = params_record(seed, persons) | {"community": community.params_record(),
                                             "order_counters": dict(order_counters)}
    (truth / "params.json").write_text(json.dumps(record, ensure_ascii=False, indent=2) + "\n",
                                       encoding="utf-8")
    (truth / "response.json").write_text(
        json.dumps(RESPONSE.as_json(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    with open(truth / "channel_effects.csv", "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["channel", "label", "incremental_conversion_per_touchpoint",
                         "daily_spend_min", "daily_spend_max", "note"])
        scale = persons / SPEND_REFERENCE_PERSONS
        for c in CHANNELS:
            note = ("no causal effect; touchpoints planted just before organic orders"
                    if c.effect == 0 else "probability that one landing causes an extra order")
            writer.writerow([c.name, c.label, c.effect, round(c.spend_min * scale, 2), round(c.spend_max * scale, 2),
                             note + f"; spend in yuan at this merchant's size ({persons:,} persons)"])
    with open(truth / "copurchase_pairs.csv", "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["product_a", "product_b", "planted_probability", "lift", "orders_with_pair"])
        for a, b, prob in COPURCHASE_PAIRS:
            writer.writerow([a, b, prob, pairs.lift(a, b), pairs.pairs[(a, b)]])
