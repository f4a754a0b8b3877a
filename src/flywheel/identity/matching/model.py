"""Fellegi–Sunter model for the roles given, trained without labels on Splink's DuckDB backend.

u (how often non-matches agree by chance) is estimated from random record pairs; m (how often true
matches agree) by expectation maximisation on blocked pairs; the prior probability that two random
records match comes from the EM sessions, corrected for what their blocking rules imply. Nothing
is tuned per dataset: the roles decide the comparisons, the data decides the blocking rules.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import duckdb
from splink import DuckDBAPI, Linker, SettingsCreator, block_on
from splink.internals.exceptions import SplinkException

from flywheel.identity.matching.blocking import BlockingRule
from flywheel.identity.matching.roles import ComparisonSpec, comparisons_for

logger = logging.getLogger(__name__)

#: Random record pairs used to estimate u: max(U_SAMPLE_PAIRS, U_PAIRS_PER_RECORD · n), at most all pairs.
U_SAMPLE_PAIRS = 1_000_000
U_PAIRS_PER_RECORD = 10
#: Blocked pairs one EM session reads, at most (a deterministic hash sample beyond that).
EM_MAX_PAIRS = 1_000_000
#: At most this many EM sessions; each trains the comparisons its blocking rule does not use.
MAX_EM_SESSIONS = 3
SEED = 4242
#: The prior is capped as if every record had at most this many true matches on average. EM on a
#: block of nothing but matches (small inputs) otherwise reports a prior near 1, linking anything.
MAX_MATCHES_PER_RECORD = 2


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
    """What the model was built from and what it learned (for `--json` and for `explain`).

    `as_json(full=True)` / `MatchModel.from_json` round-trip a trained model, so it can be applied
    to new records without training again (`match_records(..., model=…)`).
    """

    roles: tuple[str, ...]
    comparisons: tuple[str, ...]
    blocking_rules: tuple[BlockingRule, ...]
    training_rules: tuple[BlockingRule, ...]
    probability_two_random_records_match: float
    levels: tuple[LevelParameters, ...]
    records: int = 0
    splink_settings: dict = field(default_factory=dict, compare=False, repr=False)
    #: What training had to give up on (an EM session that degenerated, a prior capped), in words.
    notes: tuple[str, ...] = ()

    def level_labels(self, comparison: str) -> dict[int, str]:
        """Comparison-vector value (Splink's gamma) → level label, for one comparison."""
        labels = [p.level for p in self.levels if p.comparison == comparison]
        # Splink numbers the null level -1 and the others from len-1 (most similar) down to 0.
        return {-1: "missing", **{len(labels) - 1 - i: label for i, label in enumerate(labels)}}

    def as_json(self, full: bool = False) -> dict:
        """Summary for `--json`; with `full`, also Splink's settings so `from_json` can rebuild it."""
        extra = {"splink_settings": self.splink_settings} if full else {}
        return {
            "records": self.records,
            "roles": list(self.roles),
            "comparisons": list(self.comparisons),
            "blocking_rules": [{"roles": list(r.roles), "pairs": r.pairs} for r in self.blocking_rules],
            "training_rules": [{"roles": list(r.roles), "pairs": r.pairs} for r in self.training_rules],
            "probability_two_random_records_match": self.probability_two_random_records_match,
            "levels": [{"comparison": p.comparison, "level": p.level, "m": p.m_probability, "u": p.u_probability,
                        "bayes_factor": p.bayes_factor} for p in self.levels],
            "notes": list(self.notes),
            **extra,
        }

    @classmethod
    def from_json(cls, data: dict) -> MatchModel:
        """A model saved with `as_json(full=True)`; InputError if it is not one."""
        from flywheel.errors import InputError

        try:
            return cls(
                tuple(data["roles"]), tuple(data["comparisons"]),
                tuple(BlockingRule(tuple(r["roles"]), int(r["pairs"])) for r in data["blocking_rules"]),
                tuple(BlockingRule(tuple(r["roles"]), int(r["pairs"])) for r in data["training_rules"]),
                float(data["probability_two_random_records_match"]),
                tuple(LevelParameters(p["comparison"], p["level"], p["m"], p["u"]) for p in data["levels"]),
                int(data["records"]), dict(data["splink_settings"]), tuple(data.get("notes") or ()))
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"not a saved match model (missing or bad {exc})") from exc


def next_training_rule(candidates: list[BlockingRule], specs: list[ComparisonSpec],
                       untrained: set[str]) -> BlockingRule | None:
    """The blocking rule for the next EM session, or None when no candidate trains anything new.

    A session cannot learn m for the comparisons that use a column its rule blocks on, so the rule
    that leaves the most still-untrained comparisons free wins, the most selective one on ties: its
    pairs hold the largest share of true matches, which keeps EM from settling on "same district"
    as its idea of a match.
    """
    def trains(rule: BlockingRule) -> int:
        return sum(1 for s in specs if s.name in untrained and not set(s.members) & set(rule.roles))

    best = max(candidates, key=lambda r: (trains(r), -r.pairs, r.roles), default=None)
    return best if best is not None and trains(best) else None


def build_linker(con: duckdb.DuckDBPyConnection, table: str, specs: list[ComparisonSpec],
                 rules: list[BlockingRule]) -> Linker:
    """A Splink linker deduplicating `table` (columns `unique_id` and one per role), untrained."""
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


def trained_linker(con: duckdb.DuckDBPyConnection, table: str, model: MatchModel, rules: list[BlockingRule],
                   n_records: int) -> tuple[Linker, MatchModel]:
    """A linker carrying `model`'s trained parameters, blocking with `rules` (chosen for this data).

    The prior is rescaled to the new number of records: with as many matches per record as
    before, the chance that two random records match falls as 1/(n − 1).
    """
    settings = dict(model.splink_settings)
    settings.pop("linker_uid", None)
    settings["blocking_rules_to_generate_predictions"] = [
        block_on(*r.roles).create_blocking_rule_dict("duckdb") for r in rules]
    prior = model.probability_two_random_records_match * max(model.records - 1, 1) / max(n_records - 1, 1)
    settings["probability_two_random_records_match"] = min(prior, 0.5)
    db_api = DuckDBAPI(connection=con)
    linker = Linker(db_api.register(table, dataset_display_name="records"), settings, log_level=None)
    applied = MatchModel(model.roles, model.comparisons, tuple(rules), model.training_rules,
                         settings["probability_two_random_records_match"], model.levels, n_records, settings)
    return linker, applied


def train(linker: Linker, roles: list[str], specs: list[ComparisonSpec], rules: list[BlockingRule],
          n_records: int) -> MatchModel:
    """Estimate u by random sampling, m and the prior by EM; return the learned parameters."""
    sample = max(1, min(n_records * (n_records - 1) // 2, max(U_SAMPLE_PAIRS, U_PAIRS_PER_RECORD * n_records)))
    logger.info("estimating u from %s random pairs", f"{sample:,}")
    linker.training.estimate_u_using_random_sampling(max_pairs=float(sample), seed=SEED)
    untrained, candidates, sessions, notes = {s.name for s in specs}, list(rules), [], []
    while len(sessions) < MAX_EM_SESSIONS and (rule := next_training_rule(candidates, specs, untrained)):
        candidates.remove(rule)
        logger.info("EM on pairs agreeing on %s", ", ".join(rule.roles))
        # Splink 5.0.0's EM session drops the blocked-on comparisons from the linker's own settings
        # and only puts them back when training succeeds; keep a copy to restore after a failure.
        before = linker._settings_obj.core_model_settings.copy()
        try:
            linker.training.estimate_parameters_using_expectation_maximisation(
                block_on(*rule.roles), max_pairs=float(EM_MAX_PAIRS) if rule.pairs > EM_MAX_PAIRS else None,
                populate_probability_two_random_records_match_from_trained_values=True)
        except (SplinkException, ValueError) as exc:
            # A degenerate session: on small inputs a block can hold nothing but matches (EM drives
            # the prior to 1), or a level is seen only among non-matches and its m underflows below
            # what Splink accepts (ValueError). Its estimates are discarded; another rule trains
            # those comparisons, and the run record says so.
            linker._settings_obj.core_model_settings = before
            note = (f"EM on pairs agreeing on {', '.join(rule.roles)} degenerated and was skipped "
                    f"({_reason(exc)})")
            logger.warning("%s; trying another rule", note)
            notes.append(note)
            continue
        sessions.append(rule)
        untrained -= {s.name for s in specs if not set(s.members) & set(rule.roles)}
    if untrained:
        notes.append(f"no EM session could train {', '.join(sorted(untrained))}: "
                     "their m probabilities keep Splink's starting values")
    _cap_prior(linker, n_records)
    return _learned(linker, roles, specs, rules, sessions, n_records, tuple(notes))


def _reason(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if "below the minimum allowed value" in text:
        return "an m probability underflowed to zero"
    return text[:120]


def _cap_prior(linker: Linker, n_records: int) -> None:
    cap = min(0.5, 2 * MAX_MATCHES_PER_RECORD / max(n_records - 1, 1))
    learned = linker.misc.save_model_to_json()["probability_two_random_records_match"]
    if not learned < cap:
        logger.info("prior match probability %.3g capped at %.3g", learned, cap)
        # The attribute Splink's own estimate_probability_two_random_records_match sets.
        linker._settings_obj._probability_two_random_records_match = cap


def _learned(linker: Linker, roles: list[str], specs: list[ComparisonSpec], rules: list[BlockingRule],
             sessions: list[BlockingRule], n_records: int, notes: tuple[str, ...] = ()) -> MatchModel:
    settings = linker.misc.save_model_to_json()
    settings.pop("linker_uid", None)  # random per linker: the same records must give the same model
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
                      float(settings["probability_two_random_records_match"]), tuple(levels), n_records, settings,
                      notes)


def _probability(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) else None
