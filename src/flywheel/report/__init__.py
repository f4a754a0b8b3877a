"""The HTML report: an edge that renders what the capabilities compute."""

from __future__ import annotations

from pathlib import Path

from flywheel.collect.summary import CollectSummary, summarize
from flywheel.report.activation import add_activation_sections
from flywheel.report.html import Report
from flywheel.report.loyalty import add_loyalty_sections
from flywheel.report.measurement import add_measurement_sections
from flywheel.report.overview import add_collect_sections
from flywheel.report.value import add_value_sections
from flywheel.warehouse import Warehouse


def build_report(wh: Warehouse, path: Path, title: str = "Flywheel report",
                 summary: CollectSummary | None = None, activation_truth: dict | None = None,
                 measurement: dict | None = None) -> Path:
    """Write the report for everything in the warehouse to `path`; `activation_truth` (the demo's)
    puts the simulator's true effect of each journey beside the measured one, `measurement` (the
    demo's) adds experiments, the budget and the true channel effects to the stored attribution."""
    report = Report(title, f"warehouse {wh.settings.db_path} ({wh.engine.name})")
    add_collect_sections(report, summary or summarize(wh))
    add_value_sections(report, wh)
    add_activation_sections(report, wh, activation_truth)
    add_measurement_sections(report, wh, measurement)
    add_loyalty_sections(report, wh)
    return report.write(path)


__all__ = ["Report", "build_report"]
