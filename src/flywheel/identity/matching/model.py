"""Fellegi–Sunter model for the roles given, trained without labels on Splink's DuckDB backend.

u (how often non-matches agree by chance) is estimated from random record pairs; m (how often true
matches agree) by expectation maximisation on blocked pairs; the prior probability that two random
records match comes from the EM sessions, corrected for what their blocking rules imply. Nothing
is tuned per dataset: the roles decide the comparisons, the data decides the blocking rules.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import duckdb
from splink import DuckDBAPI, Linker, SettingsCreator, block_on

from flywheel.identity.matching.blocking import BlockingRule
from flywheel.identity.matching.roles import ComparisonSpec, comparisons_for

logger = logging.getLogger(__name__)

#: Random record pairs used to estimate u, at most.
U_SAMPLE_PAIRS = 2_000_000
#: Blocked pairs one EM session reads, at most (a deterministic hash sample beyond that).
EM_MAX_PAIRS = 1_000_000
#: At most this many EM sessions; each trains the comparisons its blocking rule does not use.
MAX_EM_SESSIONS = 3
SEED = 4242


@dataclass(frozen=True)
class LevelParameters:
    """One comparison level of the trained model: how much agreeing at this level says."""

    comparison: str
    level: str
    m_probability: float | None
    u_probability: float | None

    @property
    def bayes_factor(self) -> float | None:
        if not self.m_probability or not self.u_probability:
            return None
        return self.m_probability / self.u_probability


@dataclass(frozen=True)
class MatchModel:
    """What the model was built from and what it learned (for `--json` and for `explain`)."""

    roles: tuple[str, ...]
    comparisons: tuple[str, ...]
    blocking_rules: tuple[BlockingRule, ...]
    training_rules: tuple[BlockingRule, ...]
    probability_two_random_records_match: float
    levels: tuple[LevelParameters, ...]

    def level_labels(self, comparison: str) -> dict[int, str]:
        """Comparison-vector value (Splink's gamma) → level label, for one comparison."""
        labels = [p.level for p in self.levels if p.comparison == comparison]
        # Splink numbers the null level -1 and the others from len-1 (most similar) down to 0.
        return {-1: "missing", **{len(labels) - 1 - i: label for i, label in enumerate(labels)}}

    def as_json(self) -> dict:
        return {
            "roles": list(self.roles),
            "comparisons": list(self.comparisons),
            "blocking_rules": [{"roles": list(r.roles), "pairs": r.pairs} for r in self.blocking_rules],
            "training_rules": [list(r.roles) for r in self.training_rules],
            "probability_two_random_records_match": self.probability_two_random_records_match,
            "levels": [{"comparison": p.comparison, "level": p.level, "m": p.m_probability, "u": p.u_probability,
                        "bayes_factor": p.bayes_factor} for p in self.levels],
        }


def training_rules(rules: list[BlockingRule], specs: list[ComparisonSpec]) -> list[BlockingRule]:
    """Blocking rules for EM such that every comparison is trained by at least one session.

    A session cannot learn m for the comparisons that use a column its rule blocks on, so rules are
    picked greedily by how many still-untrained comparisons they leave free, preferring the most
    selective rule on ties: its pairs hold the largest share of true matches, which keeps EM from
    settling on "same district" as its idea of a match.
    """
    def trains(rule: BlockingRule, pending: set[str]) -> set[str]:
        return {s.name for s in specs if s.name in pending and not set(s.members) & set(rule.roles)}

    untrained = {s.name for s in specs}
    chosen: list[BlockingRule] = []
    candidates = list(rules)
    while untrained and candidates and len(chosen) < MAX_EM_SESSIONS:
        best = max(candidates, key=lambda r: (len(trains(r, untrained)), -r.pairs, r.roles))
        if not trains(best, untrained):
            break
        chosen.append(best)
        candidates.remove(best)
        untrained -= trains(best, untrained)
    return chosen


def build_linker(con: duckdb.DuckDBPyConnection, table: str, specs: list[ComparisonSpec],
                 rules: list[BlockingRule]) -> Linker:
    """A Splink linker deduplicating `table` (columns `unique_id` and one per role)."""
    settings = SettingsCreator(
        link_type="dedupe_only",
        comparisons=[s.comparison for s in specs],
        blocking_rules_to_generate_predictions=[block_on(*r.roles) for r in rules],
        retain_matching_columns=True,
        retain_intermediate_calculation_columns=True,
        max_iterations=25,
        em_convergence=0.0001,
    )
    db_api = DuckDBAPI(connection=con)
    frame = db_api.register(table, dataset_display_name="records")
    return Linker(frame, settings, log_level=None)


def train(linker: Linker, roles: list[str], specs: list[ComparisonSpec], rules: list[BlockingRule],
          n_records: int) -> MatchModel:
    """Estimate u by random sampling, m and the prior by EM; return the learned parameters."""
    all_pairs = n_records * (n_records - 1) // 2
    logger.info("estimating u from %s random pairs", f"{min(U_SAMPLE_PAIRS, all_pairs):,}")
    linker.training.estimate_u_using_random_sampling(max_pairs=float(min(U_SAMPLE_PAIRS, max(all_pairs, 1))),
                                                     seed=SEED)
    sessions = training_rules(rules, specs)
    for rule in sessions:
        logger.info("EM on pairs agreeing on %s", ", ".join(rule.roles))
        linker.training.estimate_parameters_using_expectation_maximisation(
            block_on(*rule.roles), max_pairs=float(EM_MAX_PAIRS) if rule.pairs > EM_MAX_PAIRS else None,
            populate_probability_two_random_records_match_from_trained_values=True)
    return _learned(linker, roles, specs, rules, sessions)


def _learned(linker: Linker, roles: list[str], specs: list[ComparisonSpec], rules: list[BlockingRule],
             sessions: list[BlockingRule]) -> MatchModel:
    settings = linker.misc.save_model_to_json()
    levels = []
    for comparison in settings["comparisons"]:
        name = comparison["output_column_name"]
        for level in comparison["comparison_levels"]:
            if level.get("is_null_level"):
                continue
            levels.append(LevelParameters(name, level.get("label_for_charts", ""),
                                          _probability(level.get("m_probability")),
                                          _probability(level.get("u_probability"))))
    return MatchModel(tuple(roles), tuple(s.name for s in specs), tuple(rules), tuple(sessions),
                      float(settings["probability_two_random_records_match"]), tuple(levels))


def _probability(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) else None
