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
    from flywheel.collect import ingest_paths
    from flywheel.identity import resolve
    from flywheel.identity.probabilistic import match_accounts
    from flywheel.simulate import generate
    from flywheel.value import score
    from flywheel.warehouse import Warehouse

    root = tmp_path_factory.mktemp("privacy-world")
    generate(root / "data", persons=250, seed=11)
    settings = Settings(db_path=root / "w.duckdb", key_file=root / "identifier.key")
    with Warehouse.open(settings) as wh:
        ingest_paths(wh, [root / "data"])
        resolve(wh, matcher=match_accounts)
        score(wh)
    return World(root / "data", root / "w.duckdb", root / "identifier.key")


@pytest.fixture
def world(built_world: World, tmp_path: Path) -> World:
    """A private copy at the paths the isolated settings point to (FLYWHEEL_DB, FLYWHEEL_KEY_FILE)."""
    settings = load_settings()
    shutil.copy(built_world.db, settings.db_path)
    shutil.copy(built_world.key, settings.key_file)
    shutil.copy(master_key_file(Settings(key_file=built_world.key)), master_key_file(settings))
    return World(built_world.data, settings.db_path, settings.key_file)
