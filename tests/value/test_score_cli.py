"""`flywheel value score` / `value alerts`: one JSON object with --json, tables otherwise, clear errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner
from value_merchant import copy_merchant, simulated_merchant  # noqa: F401

from flywheel.cli import app
from flywheel.errors import InputError

pytestmark = pytest.mark.slow  # scores a simulated merchant: several seconds


@pytest.fixture(scope="module")
def db(simulated_merchant, tmp_path_factory):
    return str(copy_merchant(simulated_merchant, tmp_path_factory.mktemp("cli")).settings.db_path)


def test_score_json_then_alerts_json(db):
    runner = CliRunner()
    first = runner.invoke(app, ["--db", db, "--json", "value", "score", "--as-of", "2025-03-01", "--k", "3",
                                "--weights", "social=0.5"])
    assert first.exit_code == 0, first.output
    payload = json.loads(first.stdout)
    assert payload["as_of"].startswith("2025-03-01T15:59:59")  # end of the day in Shanghai and len(payload["clusters"]) == 3
    assert payload["weights"]["social"] == 0.5 and payload["traits"] >= 100
    assert {"run_id", "persons", "buyers", "tiers", "rfm_segments", "lifecycle", "clv", "concentration", "kocs",
            "alerts", "high_potential_low_activity"} <= set(payload)
    second = runner.invoke(app, ["--db", db, "value", "score", "--json"])
    assert second.exit_code == 0, second.output
    summary = json.loads(second.stdout)
    alerts = runner.invoke(app, ["--db", db, "--json", "value", "alerts", "--limit", "3"])
    listed = json.loads(alerts.stdout)
    assert listed["run_id"] == summary["run_id"] and listed["alerts"] == summary["alerts"] > 0
    assert len(listed["items"]) == 3 and listed["items"][0]["drop_share"] >= listed["items"][1]["drop_share"] > 0.2
    assert 0 <= listed["items"][0]["churn_probability"] <= 1


def test_score_prints_tables_without_json(db):
    result = CliRunner().invoke(app, ["--db", db, "value", "score", "--k", "2"])
    assert result.exit_code == 0, result.output
    assert "Tiers" in result.stdout and "churn-warning" in result.stdout and "GMV concentration" in result.stdout


def _flywheel(*args):
    return subprocess.run([sys.executable, "-m", "flywheel", *args], capture_output=True, text=True,
                          env=dict(os.environ))


def test_errors_are_one_line_naming_the_problem(tmp_path):
    bad = tmp_path / "tiers.yaml"
    bad.write_text("tiers:\n  - {name: vip, all: ['spend > 5']}\n  - {name: rest, catch_all: true}\n")
    res = _flywheel("--db", str(tmp_path / "w.duckdb"), "--json", "value", "score", "--tiers", str(bad))
    assert res.returncode == 1 and res.stdout == "" and res.stderr.strip().count("\n") == 0
    assert str(bad) in res.stderr and "tier 1 ('vip')" in res.stderr and "unknown trait 'spend'" in res.stderr
    runner, empty = CliRunner(), str(tmp_path / "w.duckdb")
    for args, message in ((["value", "alerts"], "no scoring run yet"),
                          (["value", "score", "--as-of", "yesterday"], "--as-of: 'yesterday' is not a date"),
                          (["value", "score", "--model", "arima"], "purchase model must be one of"),
                          (["value", "score"], "no orders or events")):
        result = runner.invoke(app, ["--db", empty, *args])
        assert isinstance(result.exception, InputError) and message in str(result.exception), args
