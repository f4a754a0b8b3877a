"""The report's value section appears after a scoring run, with its charts and tables."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "value"))

from value_merchant import copy_merchant, simulated_merchant  # noqa: E402, F401

from flywheel.report import build_report  # noqa: E402
from flywheel.value import score  # noqa: E402

SECTIONS = ("Customer value", "Tiers", "Lifetime value", "Probability alive", "GMV concentration",
            "Calibration / holdout", "Segments")

pytestmark = pytest.mark.slow  # scores a simulated merchant: several seconds


def test_value_sections_after_scoring(simulated_merchant, tmp_path):
    merchant = copy_merchant(simulated_merchant, tmp_path / "m")
    with merchant.open() as wh:
        before = build_report(wh, tmp_path / "before.html").read_text(encoding="utf-8")
        summary = score(wh)
        after = build_report(wh, tmp_path / "after.html").read_text(encoding="utf-8")
    assert "No scoring run yet" in before and "P(alive) by recency" not in before
    for title in SECTIONS:
        assert f"<h2>{title}</h2>" in after, title
    assert summary["run_id"] in after and "heatmap" in after and "Concentration curve" in after
    assert "churn-warning" in after and "Holdout after" in after
