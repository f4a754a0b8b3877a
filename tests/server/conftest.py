"""Fixtures: settings, a write key and a live collection server."""

from __future__ import annotations

import pytest
from live_server import start_server

from flywheel.config import Settings, load_settings
from flywheel.server import WriteKeys, keys_file


@pytest.fixture
def settings() -> Settings:
    return load_settings()


@pytest.fixture
def write_key(settings) -> str:
    return WriteKeys(keys_file(settings.db_path)).add("web")


@pytest.fixture
def live(settings, write_key):
    server = start_server(settings, write_key)
    yield server
    server.stop()
