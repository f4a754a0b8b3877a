"""`identity cluster` contract: OUT.csv holds every record once, --json summary, named errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from flywheel.cli import State
from flywheel.config import load_settings
from flywheel.errors import InputError
from flywheel.cli.cluster import cluster_command

DATA = Path(__file__).parent / "data"
FEBRL_COLUMNS = ["first_name=given_name", "last_name=surname", "street_number=street_number",
                 "address=address_1", "address2=address_2", "city=suburb", "postcode=postcode",
                 "province=state", "birth_date=date_of_birth", "national_id=soc_sec_id"]


def _app(as_json: bool = False) -> typer.Typer:
    """`identity cluster` as the lead registers it, under a root that sets the global --json state."""
    root = typer.Typer()

    @root.callback()
    def options(ctx: typer.Context) -> None:
        ctx.obj = State(settings=load_settings(), json=as_json, db_given=False)

    identity = typer.Typer()
    identity.command("cluster")(cluster_command)
    root.add_typer(identity, name="identity")
    return root


def _run(args: list[str], as_json: bool = False):
    return CliRunner().invoke(_app(as_json), ["identity", "cluster", *args])


def _febrl_slice(tmp_path: Path, people: int = 60) -> Path:
    """The first `people` originals of FEBRL 1 with their duplicates, keeping the file's own header."""
    lines = (DATA / "febrl1.csv").read_text().splitlines()
    keep = {f"rec-{n}-" for n in range(people)}
    body = [line for line in lines[1:] if any(line.startswith(k) for k in keep)]
    path = tmp_path / "people.csv"
    path.write_text("\n".join([lines[0], *body]) + "\n")
    return path


def test_out_has_every_record_once_and_links_duplicates(tmp_path):
    source = _febrl_slice(tmp_path)
    out, pairs = tmp_path / "out" / "clusters.csv", tmp_path / "pairs.csv"
    args = [str(source), "--id-col", "rec_id", "--out", str(out), "--pairs", str(pairs)]
    result = _run(args + [a for c in FEBRL_COLUMNS for a in ("--column", c)], as_json=True)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    with out.open() as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["record_id", "cluster_id"]
    ids = [line.split(",")[0] for line in source.read_text().splitlines()[1:]]
    assert [r[0] for r in rows[1:]] == ids  # input order, each record exactly once
    cluster = dict(rows[1:])
    assert cluster["rec-10-org"] == cluster["rec-10-dup-0"] == "rec-10-dup-0"
    originals = [i for i in ids if i.endswith("-org")]
    assert len({cluster[i] for i in originals}) == len(originals)  # no two people merged
    assert summary["records"] == len(ids) and summary["clusters"] == len(set(cluster.values()))
    assert summary["model"]["comparisons"][:2] == ["first_name", "last_name"]
    with pairs.open() as handle:
        linked = list(csv.DictReader(handle))
    assert len(linked) == summary["accepted_pairs"] > 0
    assert all(float(p["match_probability"]) >= summary["threshold"] for p in linked)
    assert {e["comparison"] for e in json.loads(linked[0]["evidence"])} >= {"first_name", "national_id"}


def test_unlinked_records_are_their_own_cluster(tmp_path):
    source = tmp_path / "few.csv"
    source.write_text("id,name,phone\n1,Ann Lee,0411111111\n2,Bob Smith,0422222222\n3,Cy Young,0433333333\n")
    out = tmp_path / "out.csv"
    result = _run([str(source), "--id-col", "id", "--column", "full_name=name", "--column", "phone=phone",
                   "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text() == "record_id,cluster_id\n1,1\n2,2\n3,3\n"


@pytest.mark.parametrize(("args", "message"), [
    (["--column", "surname"], "--column 'surname': expected ROLE=COLUMN"),
    (["--column", "surname=last"], "unknown role 'surname'. Known roles: first_name, last_name"),
    (["--column", "last_name=family"], "column 'family' (role last_name) not found. Columns: id, last, phone"),
    (["--column", "last_name=last", "--column", "last_name=phone"], "role last_name given twice"),
])
def test_bad_columns_are_named(tmp_path, args, message):
    source = tmp_path / "in.csv"
    source.write_text("id,last,phone\n1,lee,1\n2,lee,2\n")
    result = _run([str(source), "--id-col", "id", "--out", str(tmp_path / "o.csv"), *args])
    assert result.exit_code != 0
    assert isinstance(result.exception, InputError) and message in str(result.exception)


def test_bad_files_are_named(tmp_path):
    dup = tmp_path / "dup.csv"
    dup.write_text("id,last\n1,lee\n1,li\n")
    result = _run([str(dup), "--id-col", "id", "--column", "last_name=last", "--out", str(tmp_path / "o.csv")])
    assert "duplicate id '1' in column 'id'" in str(result.exception)
    missing = tmp_path / "nope.csv"
    result = _run([str(missing), "--id-col", "id", "--column", "last_name=last", "--out", str(tmp_path / "o.csv")])
    assert f"{missing}: no such file" in str(result.exception)
    result = _run([str(dup), "--id-col", "key", "--column", "last_name=last", "--out", str(tmp_path / "o.csv")])
    assert "id column 'key' not found. Columns: id, last" in str(result.exception)


def test_saved_model_scores_another_file_without_training(tmp_path):
    source = _febrl_slice(tmp_path, people=80)
    model, first, second = tmp_path / "model.json", tmp_path / "a.csv", tmp_path / "b.csv"
    columns = [a for c in FEBRL_COLUMNS for a in ("--column", c)]
    trained = _run([str(source), "--id-col", "rec_id", "--out", str(first), "--save-model", str(model), *columns])
    assert trained.exit_code == 0, trained.output
    saved = json.loads(model.read_text())
    assert saved["records"] == 160 and saved["splink_settings"]["comparisons"]
    reused = _run([str(source), "--id-col", "rec_id", "--out", str(second), "--model", str(model), *columns],
                  as_json=True)
    assert reused.exit_code == 0, reused.output
    assert "applying the model trained on 160 records" in reused.stderr
    assert second.read_text() == first.read_text()
    other_roles = _run([str(source), "--id-col", "rec_id", "--out", str(second), "--model", str(model),
                        "--column", "last_name=surname"])
    assert "the model was trained on roles first_name, last_name" in str(other_roles.exception)


def test_truth_column_reports_pairwise_scores(tmp_path):
    source = _febrl_slice(tmp_path)
    lines = source.read_text().splitlines()
    labelled = tmp_path / "labelled.csv"
    labelled.write_text("\n".join([lines[0] + ",person"] + [f"{line},{line.split('-')[1]}" for line in lines[1:]]))
    out = tmp_path / "out.csv"
    args = [str(labelled), "--id-col", "rec_id", "--out", str(out), "--truth-col", "person"]
    result = _run(args + [a for c in FEBRL_COLUMNS for a in ("--column", c)], as_json=True)
    assert result.exit_code == 0, result.output
    evaluation = json.loads(result.stdout)["evaluation"]
    assert evaluation["true_pairs"] == 60 and evaluation["precision"] == 1.0 and evaluation["f1"] >= 0.9
    clusters = dict(row.split(",") for row in out.read_text().splitlines()[1:])
    linked = sum(1 for n in range(60) if clusters[f"rec-{n}-org"] == clusters.get(f"rec-{n}-dup-0"))
    assert evaluation["correct_pairs"] == linked
    missing = _run(args[:-1] + ["nope", "--column", "last_name=surname"])
    assert "--truth-col 'nope' not found" in str(missing.exception)
