"""One small simulated merchant, ingested, resolved and scored once per run; each test gets a copy."""

from __future__ import annotations

import shutil
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
    return World(root / "data", root / "w.duckdb", root / "identifier.key")


@pytest.fixture
def world(built_world: World, tmp_path: Path) -> World:
    """A private copy at the paths the isolated settings point to (FLYWHEEL_DB, FLYWHEEL_KEY_FILE)."""
    settings = load_settings()
    shutil.copy(built_world.db, settings.db_path)
    shutil.copy(built_world.key, settings.key_file)
    shutil.copy(master_key_file(Settings(key_file=built_world.key)), master_key_file(settings))
    return World(built_world.data, settings.db_path, settings.key_file)
