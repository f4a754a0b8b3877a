"""The files of `flywheel identity cluster`: records in, clusters, pairs and models out."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from flywheel.errors import InputError
from flywheel.identity.matching.clusters import pairwise_scores
from flywheel.identity.matching.matches import Matches
from flywheel.identity.matching.model import MatchModel
from flywheel.identity.matching.roles import role_named

def parse_roles(items: list[str]) -> dict[str, str]:
    """`["first_name=given", …]` → `{"first_name": "given", …}`; malformed or repeated roles are errors."""
    roles: dict[str, str] = {}
    for item in items:
        role, sep, column = item.partition("=")
        role, column = role.strip(), column.strip()
        if not sep or not role or not column:
            raise InputError(f"--column {item!r}: expected ROLE=COLUMN, e.g. last_name=surname")
        role_named(role)
        if role in roles:
            raise InputError(f"--column: role {role} given twice ({roles[role]!r} and {column!r})")
        roles[role] = column
    return roles


def read_records(path: Path, encoding: str = "utf-8") -> pa.Table:
    """Every column as text; header names with surrounding spaces trimmed (`, surname` → `surname`)."""
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        with path.open(newline="", encoding=encoding) as handle:
            header = next(csv.reader(handle), None)
    except (UnicodeDecodeError, LookupError) as exc:
        raise InputError(f"{path}: cannot decode as {encoding} ({exc})") from exc
    if not header:
        raise InputError(f"{path}: empty file, expected a header line")
    names = [name.strip() for name in header]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise InputError(f"{path}: column(s) named more than once in the header: {', '.join(repeated)}")
    try:
        table = pa_csv.read_csv(
            path, read_options=pa_csv.ReadOptions(encoding=encoding),
            convert_options=pa_csv.ConvertOptions(column_types={h: pa.string() for h in header},
                                                  strings_can_be_null=False))
    except pa.ArrowInvalid as exc:
        raise InputError(f"{path}: not a readable CSV ({exc})") from exc
    return table.rename_columns(names)


def evaluate_clusters(matches: Matches, records: pa.Table, id_col: str, truth_col: str) -> dict:
    """Pairwise scores against `truth_col`; a blank label means "a person of its own"."""
    ids = records[id_col].cast(pa.string())
    labels = records[truth_col].cast(pa.string())
    blank = pc.equal(pc.utf8_trim_whitespace(pc.fill_null(labels, "")), "")
    labels = pc.if_else(blank, pc.binary_join_element_wise("\x00blank:", ids, ""), labels)
    return pairwise_scores(matches.clusters["cluster_id"], labels)


def read_model(path: Path) -> MatchModel:
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not JSON ({exc})") from exc
    try:
        return MatchModel.from_json(data)
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from exc


def write_clusters(matches: Matches, out: Path) -> None:
    """`record_id,cluster_id`, one line per input record, in input order."""
    _write_rows(out, ["record_id", "cluster_id"],
                zip(matches.clusters["record_id"].to_pylist(), matches.clusters["cluster_id"].to_pylist()))


def write_pairs(matches: Matches, out: Path) -> None:
    """Accepted pairs; `evidence` is a JSON list of {role, level, match_weight, bayes_factor}."""
    pairs = matches.pairs
    rows = zip(pairs["left_id"].to_pylist(), pairs["right_id"].to_pylist(),
               pairs["match_probability"].to_pylist(), pairs["match_weight"].to_pylist(),
               (json.dumps(e, ensure_ascii=False) for e in pairs["evidence"].to_pylist()))
    _write_rows(out, ["left_id", "right_id", "match_probability", "match_weight", "evidence"], rows)


def _write_rows(out: Path, header: list[str], rows) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
