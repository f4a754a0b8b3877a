"""One small simulated merchant, ingested, resolved and scored once per run; each test gets a copy.

It is scored twice, the second time half a year later with no new orders, so the latest run has
real risk alerts (persons whose CLV fell) for the privacy views to disclose."""

from __future__ import annotations

import shutil
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pytest

from flywheel.config import Settings, load_settings
from flywheel.keys import master_key_file


@dataclass
class World:
    data: Path
    db: Path
    key: Path


@pytest.fixture(scope="session")
def built_world(tmp_path_factory) -> World:
    from flywheel.pipeline import identity_stage, ingest_stage, run_pipeline, simulate_stage, value_stage

    root = tmp_path_factory.mktemp("privacy-world")
    settings = Settings(db_path=root / "w.duckdb", key_file=root / "identifier.key")
    record, _ = run_pipeline("privacy-world", [simulate_stage(root / "data", 250, 11), ingest_stage([root / "data"]),
                                               identity_stage(), value_stage()], settings)
    assert record.ok
    _score_again_later(settings, days=182)
    return World(root / "data", root / "w.duckdb", root / "identifier.key")


@pytest.fixture
def world(built_world: World, tmp_path: Path) -> World:
    """A private copy at the paths the isolated settings point to (FLYWHEEL_DB, FLYWHEEL_KEY_FILE)."""
    settings = load_settings()
    shutil.copy(built_world.db, settings.db_path)
    shutil.copy(built_world.key, settings.key_file)
    shutil.copy(master_key_file(Settings(key_file=built_world.key)), master_key_file(settings))
    return World(built_world.data, settings.db_path, settings.key_file)


def _score_again_later(settings: Settings, days: int) -> None:
    import ibis

    from flywheel.value import ScoreOptions, score
    from flywheel.warehouse import Warehouse

    with Warehouse.open(settings) as wh:
        runs = wh.table("value_runs")
        as_of = wh.fetch(runs.order_by(ibis.desc("as_of")).limit(1)).column("as_of")[0].as_py()
        summary = score(wh, ScoreOptions(as_of=as_of + dt.timedelta(days=days)))
    assert summary["alerts"] > 0, "half a year without orders lowers some persons' CLV by more than 20%"
