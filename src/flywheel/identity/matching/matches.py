"""`match_records`: records in, accepted pairs with their evidence and clusters out.

The one entry point both users share: `flywheel identity cluster` (a CSV of person records) and
identity resolution (marketplace buyers with only a name, a masked phone and an address hash).
Everything runs in a private in-memory DuckDB through Splink's DuckDB backend; the warehouse is
never touched.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from flywheel.errors import InputError
from flywheel.identity.matching.blocking import choose_blocking_rules
from flywheel.identity.matching.clusters import cluster_records
from flywheel.identity.matching.model import MatchModel, build_linker, train, trained_linker
from flywheel.identity.matching.roles import ROLES, comparisons_for, role_named

logger = logging.getLogger(__name__)

#: Pairs whose match probability reaches this are linked, unless the caller says otherwise.
DEFAULT_THRESHOLD = 0.99
#: Below this many records the model has too few pairs to learn from; results lean to "no link".
MIN_RECORDS_TO_LEARN = 200

EVIDENCE_TYPE = pa.list_(pa.struct([("comparison", pa.string()), ("level", pa.string()),
                                    ("match_weight", pa.float64()), ("bayes_factor", pa.float64())]))


@dataclass(frozen=True)
class Matches:
    """Accepted pairs (with their evidence), clusters, and the model that decided them.

    `pairs`: `left_id, right_id, match_probability, match_weight, evidence`, one row per pair at or
    above `threshold`; `evidence` lists, per comparison (one per role, except `location` for the
    address chain), the level hit (`exact`, `one typo`, `same address_hash`, `different`, `missing`,
    …) with its match weight and Bayes factor (term-frequency adjusted), so a reader can see why
    two records were linked. The weights plus the prior's add up to `match_weight`.
    `clusters`: `record_id, cluster_id` for every input record; a cluster is named by its
    smallest record id. `refused`: same columns as `pairs`, for candidate pairs scored at or above
    `refused_from` but below `threshold` (empty unless asked for), so `explain` can say why not.
    """

    pairs: pa.Table
    clusters: pa.Table
    threshold: float
    model: MatchModel
    ignored_roles: tuple[str, ...]
    seconds: float
    warnings: tuple[str, ...] = ()
    refused: pa.Table = field(default_factory=lambda: _empty_pairs())

    def evidence(self, left_id: str, right_id: str) -> list[dict] | None:
        """Evidence for one accepted pair (either order): [{comparison, level, match_weight,
        bayes_factor}, …], or None if the pair was not accepted."""
        row = _find(self.pairs, left_id, right_id)
        return row["evidence"] if row else None

    def pair(self, left_id: str, right_id: str) -> dict | None:
        """The scored pair (either order) with `accepted` true or false, or None if never scored
        (not a candidate, or below `refused_from`)."""
        row = _find(self.pairs, left_id, right_id)
        if row:
            return {**row, "accepted": True}
        row = _find(self.refused, left_id, right_id)
        return {**row, "accepted": False} if row else None

    def summary(self) -> dict:
        sizes = pc.value_counts(self.clusters["cluster_id"]).field("counts")
        return {
            "records": self.clusters.num_rows,
            "clusters": len(sizes),
            "largest_cluster": int(pc.max(sizes).as_py() or 0),
            "accepted_pairs": self.pairs.num_rows,
            "refused_pairs_reported": self.refused.num_rows,
            "threshold": self.threshold,
            "ignored_roles": list(self.ignored_roles),
            "warnings": list(self.warnings),
            "seconds": round(self.seconds, 2),
            "model": self.model.as_json(),
        }


def match_records(records: pa.Table, roles: Mapping[str, str], id_column: str,
                  threshold: float | None = None, *, refused_from: float | None = None,
                  model: MatchModel | None = None,
                  progress: Callable[[str], None] | None = None) -> Matches:
    """Cluster `records` by probabilistic matching on the columns given in `roles` (role → column).

    Example: `match_records(buyers, {"full_name": "receiver", "phone_masked": "mobile",
    "address_hash": "addr_h"}, id_column="account_key")`. Unknown roles, missing columns and empty
    or duplicate ids raise InputError naming them. `threshold` is the match probability a pair must
    reach to be linked (default DEFAULT_THRESHOLD); candidate pairs scoring at least `refused_from`
    but under `threshold` come back in `Matches.refused` with their evidence. With `model` (a
    `Matches.model` from an earlier run, or `MatchModel.from_json`), nothing is trained: its
    parameters score these records, so runs are comparable and new data is matched in seconds.
    """
    started = time.perf_counter()
    say = progress or (lambda message: logger.info("%s", message))
    threshold = DEFAULT_THRESHOLD if threshold is None else threshold
    if not 0.0 < threshold < 1.0:
        raise InputError(f"threshold must be between 0 and 1 (exclusive). Got {threshold}.")
    if refused_from is not None and not 0.0 <= refused_from < threshold:
        raise InputError(f"refused_from must be at least 0 and below the threshold {threshold}. Got {refused_from}.")
    ids = _validated_ids(records, roles, id_column)
    if model is not None and set(roles) != set(model.roles):
        raise InputError(f"the model was trained on roles {', '.join(model.roles)}; "
                         f"got {', '.join(roles)}")
    # One thread: DuckDB's seeded sampling (u from random pairs) repeats only on one thread, and
    # parallel float sums in EM differ in the last bits from run to run; the same records must
    # give the same model.
    con = duckdb.connect(":memory:", config={"threads": 1})
    try:
        used, ignored = _load(con, records, roles, keep_empty=model is not None)
        if model is not None:  # the model's comparisons need its columns in its order
            used = list(model.roles)
        say(f"{len(ids):,} records, roles: {', '.join(used) or 'none'}"
            + (f" (no values, ignored: {', '.join(ignored)})" if ignored else ""))
        with _quiet_splink():
            return _match(con, ids, used, ignored, threshold, refused_from, model, say, started)
    finally:
        con.close()


def _match(con: duckdb.DuckDBPyConnection, ids: pa.Array, used: list[str], ignored: list[str],
           threshold: float, refused_from: float | None, trained: MatchModel | None,
           say: Callable[[str], None], started: float) -> Matches:
    warnings = []
    if len(ids) < MIN_RECORDS_TO_LEARN and trained is None:
        warnings.append(f"only {len(ids)} records: too few to learn match weights from "
                        f"(about {MIN_RECORDS_TO_LEARN} or more needed); weak links are missed")
    rules = choose_blocking_rules(con, "records", used, len(ids)) if used else []
    say(f"blocking: {len(rules)} rules, {sum(r.pairs for r in rules):,} candidate pairs at most")
    if not rules:
        warnings.append("no blocking rule fits the data (no two records share a value, or every "
                        "role is too common to block on): every record is its own cluster")
        for warning in warnings:
            say(f"warning: {warning}")
        model = MatchModel(tuple(used), tuple(s.name for s in comparisons_for(used)), (), (), 0.0, ())
        return Matches(_empty_pairs(), cluster_records(ids, np.empty(0, int), np.empty(0, int)),
                       threshold, model, tuple(ignored), time.perf_counter() - started, tuple(warnings))
    specs = comparisons_for(used)
    if trained is None:
        linker = build_linker(con, "records", specs, rules)
        say("training: u by random sampling, m by expectation maximisation")
        model = train(linker, used, specs, rules, len(ids))
        warnings.extend(model.notes)
    else:
        say(f"applying the model trained on {trained.records:,} records")
        linker, model = trained_linker(con, "records", trained, rules, len(ids))
    say(f"scoring candidate pairs (prior match probability {model.probability_two_random_records_match:.2e})")
    floor = threshold if refused_from is None else refused_from
    scored = linker.inference.predict(threshold_match_probability=floor if floor > 0 else None,
                                      warning_mode="never")
    pairs = con.sql(_pairs_sql(scored.physical_name, model)).arrow()
    if isinstance(pairs, pa.RecordBatchReader):
        pairs = pairs.read_all()
    table = pa.table({
        "left_id": pc.take(ids, pairs["left"]), "right_id": pc.take(ids, pairs["right"]),
        "match_probability": pairs["match_probability"], "match_weight": pairs["match_weight"],
        "evidence": pairs["evidence"].cast(EVIDENCE_TYPE),
    })
    accepted = pc.greater_equal(pairs["match_probability"], threshold)
    say(f"clustering {pc.sum(accepted).as_py() or 0:,} accepted pairs")
    linked = pairs.filter(accepted)
    clusters = cluster_records(ids, linked["left"].to_numpy(), linked["right"].to_numpy())
    for warning in warnings:
        say(f"warning: {warning}")
    return Matches(table.filter(accepted), clusters, threshold, model, tuple(ignored),
                   time.perf_counter() - started, tuple(warnings), table.filter(pc.invert(accepted)))


def _pairs_sql(scored: str, model: MatchModel) -> str:
    items = []
    for name in model.comparisons:
        cases = " ".join(f"WHEN {gamma} THEN '{label.replace(chr(39), chr(39) * 2)}'"
                         for gamma, label in model.level_labels(name).items())
        # Every comparison has a TF-adjusted exact level (roles.py), so mw_tf_adj_<name> always exists.
        weight = f"(mw_{name} + coalesce(mw_tf_adj_{name}, 0))"
        items.append(f"{{'comparison': '{name}', 'level': CASE gamma_{name} {cases} END, "
                     f"'match_weight': CAST({weight} AS DOUBLE), 'bayes_factor': CAST(pow(2, {weight}) AS DOUBLE)}}")
    return (f"SELECT unique_id_l AS left, unique_id_r AS right, match_probability, match_weight, "
            f"[{', '.join(items)}] AS evidence FROM {scored} ORDER BY unique_id_l, unique_id_r")


def _validated_ids(records: pa.Table, roles: Mapping[str, str], id_column: str) -> pa.Array:
    columns = records.column_names
    if id_column not in columns:
        raise InputError(f"id column {id_column!r} not found. Columns: {', '.join(columns)}")
    if not roles:
        raise InputError(f"give at least one role. Known roles: {', '.join(ROLES)}")
    for role, column in roles.items():
        role_named(role)
        if column not in columns:
            raise InputError(f"column {column!r} (role {role}) not found. Columns: {', '.join(columns)}")
    ids = records[id_column].combine_chunks().cast(pa.string())
    blank = pc.or_kleene(pc.is_null(ids), pc.equal(pc.utf8_trim_whitespace(ids), ""))
    if pc.any(blank).as_py():
        row = pc.index(blank, True).as_py()
        raise InputError(f"record {row + 1}: empty id in column {id_column!r}")
    counts = pc.value_counts(ids)
    repeated = counts.filter(pc.greater(counts.field("counts"), 1))
    if len(repeated):
        first = repeated[0].as_py()
        raise InputError(f"duplicate id {first['values']!r} in column {id_column!r} "
                         f"({first['counts']} records; {len(repeated)} ids repeated)")
    return ids


def _load(con: duckdb.DuckDBPyConnection, records: pa.Table, roles: Mapping[str, str],
          keep_empty: bool = False) -> tuple[list, list]:
    """Write `records(unique_id, <role>…)` with normalised values; roles with no value are dropped
    (unless `keep_empty`: a trained model needs all its columns)."""
    source = pa.table({f"c{i}": records[column] for i, column in enumerate(roles.values())}
                      | {"row_position": pa.array(np.arange(records.num_rows, dtype=np.int64))})
    con.register("input_records", source)
    selects = ", ".join(f"{ROLES[role].normalise_sql(f'c{i}')} AS {role}" for i, role in enumerate(roles))
    con.execute(f"CREATE TABLE normalised AS SELECT row_position AS unique_id, {selects} FROM input_records")
    con.unregister("input_records")
    counts = con.execute("SELECT " + ", ".join(f"count({r})" for r in roles) + " FROM normalised").fetchone()
    used = [r for r, n in zip(roles, counts) if n > 0 or keep_empty]
    ignored = [r for r in roles if r not in used]
    keep = ", ".join(["unique_id", *used])
    con.execute(f"CREATE TABLE records AS SELECT {keep} FROM normalised ORDER BY unique_id")
    con.execute("DROP TABLE normalised")
    return used, ignored


def _find(pairs: pa.Table, left_id: str, right_id: str) -> dict | None:
    left, right = pairs["left_id"], pairs["right_id"]
    hit = pc.or_(pc.and_(pc.equal(left, left_id), pc.equal(right, right_id)),
                 pc.and_(pc.equal(left, right_id), pc.equal(right, left_id)))
    rows = pairs.filter(hit).to_pylist()
    return rows[0] if rows else None


def _empty_pairs() -> pa.Table:
    return pa.table({"left_id": pa.array([], pa.string()), "right_id": pa.array([], pa.string()),
                     "match_probability": pa.array([], pa.float64()),
                     "match_weight": pa.array([], pa.float64()), "evidence": pa.array([], EVIDENCE_TYPE)})


@contextlib.contextmanager
def _quiet_splink() -> Iterator[None]:
    """Splink logs every step at INFO and warns about untrained levels on small inputs; keep stderr for us."""
    splink_logger = logging.getLogger("splink")
    before = splink_logger.level
    if not logger.isEnabledFor(logging.DEBUG):
        splink_logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        splink_logger.setLevel(before)


def describe_pair(pair: Mapping) -> list[str]:
    """Readable lines for one scored pair (a row of `Matches.pairs` / `.refused`, or `Matches.pair()`),
    strongest evidence first, e.g. `  phone_masked  exact  +13.7 (×1.3e+04)`."""
    verdict = {True: "linked", False: "refused"}.get(pair.get("accepted"), "scored")
    lines = [f"{pair['left_id']} ~ {pair['right_id']}: {verdict}, match probability "
             f"{pair['match_probability']:.4f} (weight {pair['match_weight']:+.1f})"]
    evidence = sorted(pair["evidence"], key=lambda e: (-abs(e["match_weight"] or 0.0), e["comparison"]))
    width = max((len(e["comparison"]) for e in evidence), default=0)
    levels = max((len(e["level"] or "") for e in evidence), default=0)
    for e in evidence:
        lines.append(f"  {e['comparison']:<{width}}  {e['level'] or '?':<{levels}}  "
                     f"{e['match_weight']:+.1f} (×{e['bayes_factor']:.3g})")
    return lines
