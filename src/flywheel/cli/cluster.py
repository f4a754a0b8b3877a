"""`flywheel identity cluster INPUT.csv --id-col ID --column ROLE=COLUMN … --out OUT.csv`: parse, match, write."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from flywheel.cli.common import state
from flywheel.errors import InputError

ROLES = ("first_name", "last_name", "full_name", "phone", "phone_masked", "email", "birth_date", "national_id",
         "street_number", "address", "address2", "city", "district", "province", "postcode", "address_hash")
"""The matcher's roles, named here so `--help` needs no Splink import (a test keeps them equal)."""
ROLE_HELP = "ROLE=COLUMN, repeatable. Roles: " + ", ".join(ROLES) + "."


def cluster_command(
    ctx: typer.Context,
    input_csv: Annotated[Path, typer.Argument(help="CSV of person records, one per row, with a header.")],
    id_col: Annotated[str, typer.Option("--id-col", help="Column holding each record's unique id.")],
    column: Annotated[list[str], typer.Option("--column", help=ROLE_HELP)],
    out: Annotated[Path, typer.Option("--out", help="Output CSV: record_id,cluster_id for every record.")],
    threshold: Annotated[float | None, typer.Option(
        "--threshold", help="Match probability a pair needs to be linked (default 0.99).")] = None,
    pairs_out: Annotated[Path | None, typer.Option(
        "--pairs", help="Also write the accepted pairs with probability and per-role evidence.")] = None,
    model_out: Annotated[Path | None, typer.Option(
        "--save-model", help="Write the trained model (JSON) to reuse with --model on other files.")] = None,
    model_in: Annotated[Path | None, typer.Option(
        "--model", help="Score with a model saved by --save-model instead of training on this file.")] = None,
    truth_col: Annotated[str | None, typer.Option(
        "--truth-col", help="Column with known person labels: also report pairwise precision, recall, F1.")] = None,
    encoding: Annotated[str, typer.Option("--encoding", help="Input encoding, e.g. utf-8 or gb18030.")] = "utf-8",
) -> None:
    """Cluster person records by probabilistic matching (Splink, trained on the file itself, no labels).

    Every input record appears in OUT exactly once; a record linked to nothing is its own cluster,
    named by its id. A cluster is named by the smallest record id it holds.
    """
    from flywheel.identity.matching import match_records
    from flywheel.identity.matching.files import (evaluate_clusters, parse_roles, read_model, read_records,
                                                  write_clusters, write_pairs)

    as_json = state(ctx).json
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
        summary["evaluation"] = evaluate_clusters(matches, records, id_col, truth_col)
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


def _stderr(message: str) -> None:
    sys.stderr.write(f"identity cluster: {message}\n")
