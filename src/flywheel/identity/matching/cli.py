"""`flywheel identity cluster INPUT.csv --id-col ID --column ROLE=COLUMN … --out OUT.csv`.

Parse, call `match_records`, write. The lead registers `cluster_command` under `identity cluster`.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Annotated

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import typer

from flywheel.errors import InputError
from flywheel.identity.matching.clusters import pairwise_scores
from flywheel.identity.matching.matches import DEFAULT_THRESHOLD, Matches, match_records
from flywheel.identity.matching.model import MatchModel
from flywheel.identity.matching.roles import ROLES, role_named

_ROLE_HELP = "ROLE=COLUMN, repeatable. Roles: " + ", ".join(ROLES) + "."


def cluster_command(
    ctx: typer.Context,
    input_csv: Annotated[Path, typer.Argument(help="CSV of person records, one per row, with a header.")],
    id_col: Annotated[str, typer.Option("--id-col", help="Column holding each record's unique id.")],
    column: Annotated[list[str], typer.Option("--column", help=_ROLE_HELP)],
    out: Annotated[Path, typer.Option("--out", help="Output CSV: record_id,cluster_id for every record.")],
    threshold: Annotated[float | None, typer.Option(
        "--threshold", help=f"Match probability a pair needs to be linked (default {DEFAULT_THRESHOLD}).")] = None,
    pairs_out: Annotated[Path | None, typer.Option(
        "--pairs", help="Also write the accepted pairs with probability and per-role evidence.")] = None,
    model_out: Annotated[Path | None, typer.Option(
        "--save-model", help="Write the trained model (JSON) to reuse with --model on other files.")] = None,
    model_in: Annotated[Path | None, typer.Option(
        "--model", help="Score with a model saved by --save-model instead of training on this file.")] = None,
    truth_col: Annotated[str | None, typer.Option(
        "--truth-col", help="Column with known person labels: also report pairwise precision, recall, F1.")] = None,
    encoding: Annotated[str, typer.Option("--encoding", help="Input encoding, e.g. utf-8 or gb18030.")] = "utf-8",
    as_json: Annotated[bool, typer.Option("--json", help="Summary as JSON on stdout, nothing else.")] = False,
) -> None:
    """Cluster person records by probabilistic matching (Splink, trained on the file itself, no labels).

    Every input record appears in OUT exactly once; a record linked to nothing is its own cluster,
    named by its id. A cluster is named by the smallest record id it holds.
    """
    root = ctx.find_root().obj
    as_json = as_json or bool(getattr(root, "json", False))
    roles = parse_roles(column)
    records = read_records(input_csv, encoding)
    if truth_col is not None and truth_col not in records.column_names:
        raise InputError(f"--truth-col {truth_col!r} not found. Columns: {', '.join(records.column_names)}")
    trained = read_model(model_in) if model_in is not None else None
    matches = match_records(records, roles, id_col, threshold, model=trained, progress=_stderr)
    write_clusters(matches, out)
    if model_out is not None:
        model_out.parent.mkdir(parents=True, exist_ok=True)
        model_out.write_text(json.dumps(matches.model.as_json(full=True), ensure_ascii=False, indent=1))
    if pairs_out is not None:
        write_pairs(matches, pairs_out)
    summary = {"input": str(input_csv), "out": str(out), **matches.summary()}
    if truth_col is not None:
        summary["evaluation"] = _evaluate(matches, records, id_col, truth_col)
    if as_json:
        sys.stdout.write(json.dumps(summary, ensure_ascii=False) + "\n")
    else:
        _stderr(f"{summary['records']:,} records → {summary['clusters']:,} clusters "
                f"({summary['accepted_pairs']:,} linked pairs, largest cluster {summary['largest_cluster']}) "
                f"in {summary['seconds']} s → {out}")
        if truth_col is not None:
            e = summary["evaluation"]
            _stderr(f"against {truth_col}: precision {e['precision']:.4f}, recall {e['recall']:.4f}, "
                    f"F1 {e['f1']:.4f} ({e['correct_pairs']:,} of {e['true_pairs']:,} true pairs, "
                    f"{e['found_pairs']:,} predicted)")


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


def _evaluate(matches: Matches, records: pa.Table, id_col: str, truth_col: str) -> dict:
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


def _stderr(message: str) -> None:
    sys.stderr.write(f"identity cluster: {message}\n")
