"""Blocking rules derived from the roles given, sized by counting the pairs each would make.

Scoring every pair of 200k records is 2·10¹⁰ comparisons, so candidate pairs come from equality on
one or two roles. Which roles are selective depends on the data (a `province` column blocks 200k
records into a few huge groups; a `national_id` into pairs), so each candidate is priced by the
exact number of pairs it generates — Σ n_k(n_k−1)/2 over its key groups, one GROUP BY in DuckDB —
and kept only under a budget. Singles come first; a pair of roles is tried only when neither role
was kept alone (otherwise it adds nothing). Several kept rules give recall: a typo in one key is
caught by another.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass

import duckdb

logger = logging.getLogger(__name__)

#: A rule may generate at most max(MIN_PAIR_BUDGET, PAIRS_PER_RECORD · n) candidate pairs, and all
#: rules together at most TOTAL_BUDGET_RULES times that (the most selective rules are kept first).
PAIRS_PER_RECORD = 10
MIN_PAIR_BUDGET = 200_000
TOTAL_BUDGET_RULES = 5


@dataclass(frozen=True)
class BlockingRule:
    """Equality on `roles`; `pairs` is the number of record pairs it generates."""

    roles: tuple[str, ...]
    pairs: int

    @property
    def sql(self) -> str:
        return " AND ".join(f"l.{r} = r.{r}" for r in self.roles)


def count_pairs(con: duckdb.DuckDBPyConnection, table: str, roles: tuple[str, ...]) -> int:
    """Number of pairs of records of `table` that agree on every role in `roles` (NULLs never agree)."""
    keys = ", ".join(roles)
    not_null = " AND ".join(f"{r} IS NOT NULL" for r in roles)
    row = con.execute(
        f"SELECT coalesce(sum(n * (n - 1) / 2), 0)::BIGINT FROM "
        f"(SELECT count(*) AS n FROM {table} WHERE {not_null} GROUP BY {keys})"
    ).fetchone()
    return int(row[0])


def choose_blocking_rules(con: duckdb.DuckDBPyConnection, table: str, roles: list[str], n_records: int,
                          pairs_per_record: float = PAIRS_PER_RECORD) -> list[BlockingRule]:
    """The blocking rules for `roles` that fit the pair budget, most selective first.

    Raises nothing when no rule fits: the caller decides what an empty list means.
    """
    budget = max(MIN_PAIR_BUDGET, int(pairs_per_record * n_records))
    kept: list[BlockingRule] = []
    alone: set[str] = set()
    for role in roles:
        pairs = count_pairs(con, table, (role,))
        logger.info("blocking on %s alone: %s pairs (budget %s)", role, f"{pairs:,}", f"{budget:,}")
        if 0 < pairs <= budget:
            kept.append(BlockingRule((role,), pairs))
            alone.add(role)
    for a, b in itertools.combinations([r for r in roles if r not in alone], 2):
        pairs = count_pairs(con, table, (a, b))
        if 0 < pairs <= budget:
            kept.append(BlockingRule((a, b), pairs))
    kept.sort(key=lambda rule: (rule.pairs, rule.roles))
    chosen, total = [], 0
    for rule in kept:
        if total + rule.pairs > TOTAL_BUDGET_RULES * budget:
            logger.info("blocking on %s dropped: over the total budget", " & ".join(rule.roles))
            continue
        chosen.append(rule)
        total += rule.pairs
    return chosen
