"""`flywheel run` on exports (the demo minus the simulator) and `flywheel report` on any warehouse."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from flywheel.config import load_settings
from flywheel.warehouse import Warehouse

pytestmark = pytest.mark.slow

STAGES = ["ingest", "identity", "value", "segments", "journeys", "loyalty", "attribution", "insight", "report"]


def flywheel(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flywheel", *args], capture_output=True, text=True, cwd=cwd,
                          env=dict(os.environ))


@pytest.fixture(scope="module")
def exports(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("exports")
    res = flywheel("generate", "--out", str(out), "--persons", "300", "--seed", "3", cwd=out)
    assert res.returncode == 0, res.stderr
    return out


def test_run_goes_through_every_stage_on_exports_and_writes_the_report(exports, tmp_path):
    res = flywheel("--json", "--role", "owner", "run", str(exports), "--out", str(tmp_path / "r.html"), cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    payload = json.loads(res.stdout)
    assert [s["stage"] for s in payload["run"]["stages"]] == STAGES
    assert all(s["status"] == "ok" for s in payload["run"]["stages"])
    assert payload["ingest"]["loaded"] > 0 and (tmp_path / "r.html").stat().st_size > 10_000
    assert payload["stages"]["segments"]["applied"] > 0, "the shipped segments land for a role that may apply"
    assert payload["stages"]["attribution"]["attribution_run"]
    assert payload["stages"]["loyalty"]["orders"] > 0 and payload["stages"]["loyalty"]["members"]
    with Warehouse.open(load_settings()) as wh:
        assert wh.count("metric_builds") == 1 and wh.count("metric_person_days") > 0
        assert wh.count("segments") == payload["stages"]["segments"]["applied"]
    again = flywheel("--json", "--role", "owner", "run", str(exports), "--out", str(tmp_path / "r.html"), cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-2000:]
    second = json.loads(again.stdout)
    assert second["ingest"]["loaded"] == 0, "re-running the same exports loads nothing new"
    assert second["stages"]["segments"]["applied"] == 0, "stored segments are refreshed, not applied again"
    assert second["stages"]["loyalty"]["transactions"] == 0, "points for the same orders are not earned twice"


def test_a_role_that_may_not_apply_still_refreshes_and_is_told(exports, tmp_path):
    res = flywheel("--json", "run", str(exports), "--out", str(tmp_path / "r.html"), cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    seg = json.loads(res.stdout)["stages"]["segments"]
    assert seg["applied"] == 0 and "may not activate.apply" in seg["note"]
    assert "may not points.write" in json.loads(res.stdout)["stages"]["loyalty"]["note"]


def test_report_writes_the_offline_report_of_any_warehouse(exports, tmp_path):
    assert flywheel("ingest", str(exports), cwd=tmp_path).returncode == 0
    res = flywheel("--json", "report", "--out", str(tmp_path / "any.html"), cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    html = (tmp_path / "any.html").read_text(encoding="utf-8")
    assert "Orders and GMV over time" in html and "<script src=\"http" not in html
