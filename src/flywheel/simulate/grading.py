"""Grade an account → person mapping against the simulator's truth: pairwise precision and recall
over account pairs, and which traps ended up joining two true persons."""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from flywheel.identifiers import IdentifierHasher, InvalidIdentifier, normalize_email


@dataclass
class Grade:
    accounts: int
    true_pairs: int
    found_pairs: int
    correct_pairs: int
    blobs: list[tuple[str, list[str]]] = field(default_factory=list)

    @property
    def precision(self) -> float:
        return self.correct_pairs / self.found_pairs if self.found_pairs else 1.0

    @property
    def recall(self) -> float:
        return self.correct_pairs / self.true_pairs if self.true_pairs else 1.0


def truth_accounts(truth_dir: Path, hasher: IdentifierHasher) -> dict[tuple[str, str], str]:
    """(source, account_key as stored) → true person id."""
    out = {}
    with open(Path(truth_dir) / "accounts.csv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            source, ref = row["source"], row["account_ref"]
            if source == "shopify":
                try:
                    ref = "h:" + hasher.hash("email", normalize_email(ref))[:32]
                except InvalidIdentifier:
                    continue
            out[(source, ref)] = row["person_id"]
    return out


def grade(mapping: list[tuple[str, str, str]], truth_dir: Path, hasher: IdentifierHasher) -> Grade:
    """`mapping` rows are (source, account_key, person_id) as `identity export --of accounts` writes."""
    truth = truth_accounts(truth_dir, hasher)
    pairs = []
    for source, key, person in mapping:
        ref = key[5:] if key.startswith("anon:") else key
        true_person = truth.get((source, ref))
        if true_person is not None:
            pairs.append((person, true_person))
    by_found = Counter(p for p, _ in pairs)
    by_true = Counter(t for _, t in pairs)
    by_both = Counter(pairs)

    def n_pairs(counts: Counter) -> int:
        return sum(c * (c - 1) // 2 for c in counts.values())

    members: dict[str, set[str]] = {}
    for found, true_person in pairs:
        members.setdefault(found, set()).add(true_person)
    blobs = sorted((p, sorted(t)) for p, t in members.items() if len(t) > 1)
    return Grade(len(pairs), n_pairs(by_true), n_pairs(by_found), n_pairs(by_both), blobs)


#: Planted traps whose persons a resolution must not join to strangers (truth/traps.csv kinds).
PERSON_TRAPS = ("shared_phone", "shared_device", "kiosk_cookie", "placeholder_phone", "placeholder_email")


@dataclass
class TrapGrade:
    """Found account pairs with at least one account of the trap, and how many are true pairs."""

    kind: str
    accounts: int
    found_pairs: int
    correct_pairs: int

    @property
    def precision(self) -> float:
        return self.correct_pairs / self.found_pairs if self.found_pairs else 1.0


@dataclass
class IdentityQuality:
    """Pairwise precision and recall, the linkable ceiling and per-trap precision of a resolution."""

    grade: Grade
    ceiling_pairs: int
    traps: list[TrapGrade]
    #: True persons with accounts on 2+ platforms, and how many of them one found person holds on
    #: 2+ of those platforms (`matched`) or on all of them (`fully_matched`).
    multi_platform: int = 0
    matched: int = 0
    fully_matched: int = 0

    @property
    def cross_platform_match_rate(self) -> float:
        return self.matched / self.multi_platform if self.multi_platform else 1.0

    @property
    def ceiling(self) -> float:
        """Recall if every true pair sharing any observable value were linked (and nothing else)."""
        return self.ceiling_pairs / self.grade.true_pairs if self.grade.true_pairs else 1.0

    @property
    def share_of_ceiling(self) -> float:
        return self.grade.correct_pairs / self.ceiling_pairs if self.ceiling_pairs else 1.0

    def as_dict(self) -> dict:
        g = self.grade
        return {"accounts": g.accounts, "true_pairs": g.true_pairs, "found_pairs": g.found_pairs,
                "correct_pairs": g.correct_pairs, "precision": round(g.precision, 4), "recall": round(g.recall, 4),
                "ceiling": round(self.ceiling, 4), "share_of_ceiling": round(self.share_of_ceiling, 4),
                "mixed_persons": len(g.blobs),
                "true_cross_platform": {"persons": self.multi_platform, "matched": self.matched,
                                        "fully_matched": self.fully_matched,
                                        "match_rate": round(self.cross_platform_match_rate, 4)},
                "traps": {t.kind: {"accounts": t.accounts, "found_pairs": t.found_pairs,
                                   "precision": round(t.precision, 4)} for t in self.traps}}


def observable_values(wh) -> list[tuple[str, str, str]]:
    """`(source, account_key, value)` for everything an export shows of an account that could tie it
    to another: identifier hashes, masked phones, name keys, address hashes and order ids."""
    import ibis

    a, o, i = wh.table("accounts"), wh.table("orders"), wh.table("identifiers")

    def part(table, prefix: str, value, keep=None):
        t = table if keep is None else table.filter(keep)
        return t.select(source=t.source, account_key=t.account_key,
                        value=ibis.literal(prefix) + value.cast("string"))

    parts = [
        part(i, "id:", i.id_type + ibis.literal(":") + i.id_hash),
        part(i, "pm:", i.id_masked, i.id_type.isin(["phone", "phone_masked"]) & i.id_masked.notnull()),
        part(o, "pm:", o.receiver_phone_masked, o.receiver_phone_masked.notnull()),
        part(a, "nm:", a.name_key, a.name_key.notnull()),
        part(o, "nm:", o.receiver_name_key, o.receiver_name_key.notnull()),
        part(o, "ad:", o.receiver_address_hash, o.receiver_address_hash.notnull()),
        part(o, "or:", o.source + ibis.literal(":") + o.order_id),
    ]
    rows = wh.fetch(ibis.union(*parts, distinct=True)).to_pylist()
    return [(r["source"], r["account_key"], r["value"]) for r in rows]


def identity_quality(mapping: list[tuple[str, str, str]], values: list[tuple[str, str, str]], truth_dir: Path,
                     hasher: IdentifierHasher) -> IdentityQuality:
    """Grade `mapping` (source, account_key, person_id) against truth, with the ceiling computed from
    `values` (`observable_values`) and the precision on every planted and natural trap:

    - planted (`truth/traps.csv`): the accounts of the persons given an office phone, a family
      device, the kiosk cookie or a placeholder phone / e-mail;
    - `couples_at_one_address`: accounts whose receiver address is also another true person's;
    - `masked_phone_collision`: accounts whose masked phone another true person shows too, where
      both show their own, different names (receiver, contact or account name equal to the true
      name, in hanzi or pinyin): the collision a careless reader of the exports would merge.
    A trap's precision is over found pairs with at least one of its accounts.
    """
    truth_dir = Path(truth_dir)
    truth = truth_accounts(truth_dir, hasher)

    def true_of(source: str, key: str) -> str | None:
        return truth.get((source, key[5:] if key.startswith("anon:") else key))

    g = grade(mapping, truth_dir, hasher)
    found = {(s, k): p for s, k, p in mapping if true_of(s, k) is not None}

    parent: dict = {}

    def find(x):
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    holders: dict[str, set] = {}
    shown_names: dict[tuple, set] = {}
    for source, key, value in values:
        if (source, key) in found:
            holders.setdefault(value, set()).add((source, key))
            if value.startswith("nm:"):
                shown_names.setdefault((source, key), set()).add(value)
    for members in holders.values():
        by_person: dict[str, list] = {}
        for account in members:
            by_person.setdefault(true_of(*account), []).append(account)
        for group in by_person.values():
            root = find(group[0])
            for account in group[1:]:
                parent[find(account)] = root
    linkable = Counter((true_of(*a), find(a)) for a in found)
    ceiling = sum(c * (c - 1) // 2 for c in linkable.values())

    from flywheel.warehouse.sealing import comparison_form

    names, own_keys = {}, {}
    with open(truth_dir / "persons.csv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            names[row["person_id"]] = row["name"]
            own_keys[row["person_id"]] = {"nm:" + hasher.hash("name_key", comparison_form(row[c]))
                                          for c in ("name", "name_pinyin") if row[c]}
    traps: dict[str, set] = {kind: set() for kind in PERSON_TRAPS}
    trap_persons: dict[str, set] = {kind: set() for kind in PERSON_TRAPS}
    with open(truth_dir / "traps.csv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row["kind"] in trap_persons:
                trap_persons[row["kind"]].update(p for p in row["person_ids"].split("|") if p)
    for account in found:
        for kind, persons in trap_persons.items():
            if true_of(*account) in persons:
                traps[kind].add(account)
    traps["couples_at_one_address"], traps["masked_phone_collision"] = set(), set()
    for value, members in holders.items():
        people = {true_of(*a) for a in members}
        if len(people) < 2:
            continue
        if value.startswith("ad:"):
            traps["couples_at_one_address"] |= members
        elif value.startswith("pm:"):
            named = {true_of(*a) for a in members if shown_names.get(a, set()) & own_keys.get(true_of(*a), set())}
            if len({names[p] for p in named}) > 1:
                traps["masked_phone_collision"] |= {a for a in members if true_of(*a) in named}

    members_of: dict[str, list] = {}
    for account, person in found.items():
        members_of.setdefault(person, []).append(account)
    graded = []
    for kind, involved in traps.items():
        pairs = correct = 0
        for person in {found[a] for a in involved}:
            accounts = members_of[person]
            for x in range(len(accounts)):
                for y in range(x + 1, len(accounts)):
                    if accounts[x] in involved or accounts[y] in involved:
                        pairs += 1
                        correct += true_of(*accounts[x]) == true_of(*accounts[y])
        graded.append(TrapGrade(kind, len(involved), pairs, correct))
    return IdentityQuality(g, ceiling, graded, *_cross_platform(found, true_of))


def _cross_platform(found: dict, true_of) -> tuple[int, int, int]:
    from flywheel.identity.stats import PLATFORMS

    platforms: dict[str, set] = {}
    held: dict[tuple[str, str], set] = {}
    for (source, key), person in found.items():
        human, platform = true_of(source, key), PLATFORMS.get(source, source)
        platforms.setdefault(human, set()).add(platform)
        held.setdefault((human, person), set()).add(platform)
    best: dict[str, int] = {}
    for (human, _), on in held.items():
        best[human] = max(best.get(human, 0), len(on))
    multi = [h for h, on in platforms.items() if len(on) >= 2]
    return (len(multi), sum(1 for h in multi if best[h] >= 2),
            sum(1 for h in multi if best[h] == len(platforms[h])))
