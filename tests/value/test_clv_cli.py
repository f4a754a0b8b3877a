"""`clv fit` on the sub-app, wrapped in a root app that sets the global --json state."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from flywheel.cli import State
from flywheel.config import load_settings
from flywheel.value import BetaGeoModel
from flywheel.cli.clv import clv_app


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


def test_json_contract_for_every_purchase_model(tmp_path, cdnow_summary):
    """Parameter names as in the issue; log_likelihood is the full published LL, not a mean."""
    path = tmp_path / "summary.csv"
    cdnow_summary.to_csv(path, index=False)
    expected = {"pareto": (["r", "alpha", "s", "beta"], -9594.98), "mbgnbd": (["r", "alpha", "a", "b"], None)}
    for model, (names, published) in expected.items():
        result = CliRunner().invoke(_root(False), ["clv", "fit", "--summary", str(path), "--model", model, "--json"])
        assert result.exit_code == 0, result.output
        assert len(result.stdout.strip().splitlines()) == 1
        payload = json.loads(result.stdout)
        assert list(payload) == ["model", "params", "log_likelihood", "n_customers", "seconds"]
        assert payload["model"] == model and list(payload["params"]) == names and payload["n_customers"] == 2357
        assert isinstance(payload["seconds"], float) and payload["seconds"] >= 0
        if published is not None:
            assert payload["log_likelihood"] == pytest.approx(published, abs=0.01)


def test_transactions_mode_counts_days_and_divides_by_the_period(tmp_path):
    """Same-day purchases count once; recency and T are whole days over the period's days."""
    path = tmp_path / "tx.csv"
    path.write_text("who,when\n"
                    "a,2024-01-01 09:00\na,2024-01-01 18:00\na,2024-01-15 23:59\na,2024-01-22 00:01\n"
                    "b,2024-01-08 12:00\nc,2024-01-03\nc,2024-01-27\nd,2024-01-10\nd,2024-01-10\n")
    by_hand = {"day": ([2, 0, 1, 0], [21.0, 0.0, 24.0, 0.0], [28.0, 21.0, 26.0, 19.0])}
    by_hand["week"] = (by_hand["day"][0], [v / 7 for v in by_hand["day"][1]], [v / 7 for v in by_hand["day"][2]])
    for period, (frequency, recency, big_t) in by_hand.items():
        args = ["clv", "fit", "--transactions", str(path), "--customer-col", "who", "--date-col", "when",
                "--period", period, "--calibration-end", "2024-01-29", "--model", "bgnbd", "--json"]
        result = CliRunner().invoke(_root(False), args)
        assert result.exit_code == 0, result.output
        payload = json.loads(result.stdout)
        direct = BetaGeoModel().fit(frequency, recency, big_t)
        assert payload["n_customers"] == 4
        assert payload["log_likelihood"] == pytest.approx(direct.log_likelihood_, abs=1e-6)
