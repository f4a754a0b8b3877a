"""`clv fit` on the sub-app, wrapped in a root app that sets the global --json state."""

from __future__ import annotations

import json

import typer
from typer.testing import CliRunner

from flywheel.cli import State
from flywheel.config import load_settings
from flywheel.value.cli import clv_app


def _root(as_json: bool) -> typer.Typer:
    root = typer.Typer()

    @root.callback()
    def options(ctx: typer.Context) -> None:
        ctx.obj = State(settings=load_settings(), json=as_json, db_given=False)

    root.add_typer(clv_app, name="clv")
    return root


def test_fit_summary_prints_one_json_object(tmp_path, cdnow_summary):
    path = tmp_path / "summary.csv"
    cdnow_summary.to_csv(path, index=False)
    result = CliRunner().invoke(_root(True), ["clv", "fit", "--summary", str(path), "--model", "bgnbd"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert set(payload) == {"model", "params", "log_likelihood", "n_customers", "seconds"}
    assert payload["model"] == "bgnbd" and payload["n_customers"] == 2357
    assert round(payload["log_likelihood"], 2) == -9582.43
    assert list(payload["params"]) == ["r", "alpha", "a", "b"]


def test_fit_transactions_gamma_gamma_and_table(tmp_path, cdnow_transactions):
    path = tmp_path / "tx.csv"
    cdnow_transactions.to_csv(path, index=False)
    args = ["clv", "fit", "--transactions", str(path), "--customer-col", "id", "--date-col", "date",
            "--amount-col", "amount", "--period", "week", "--calibration-end", "1997-09-30", "--model", "gamma-gamma"]
    result = CliRunner().invoke(_root(True), args)
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["n_customers"] == 946 and list(payload["params"]) == ["p", "q", "v"]
    table = CliRunner().invoke(_root(False), args[:-1] + ["pareto"])
    assert table.exit_code == 0 and "alpha" in table.stdout and "beta" in table.stdout


def test_bad_model_is_an_input_error(tmp_path):
    path = tmp_path / "summary.csv"
    path.write_text("frequency,recency,T\n1,2,3\n")
    result = CliRunner().invoke(_root(True), ["clv", "fit", "--summary", str(path), "--model", "nope"])
    assert result.exit_code != 0
    assert "--model must be one of" in str(result.exception)
