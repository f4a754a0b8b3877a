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
