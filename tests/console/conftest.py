"""A small simulated merchant run through the whole demo once per test run, with owner, analyst and
auditor keys, for the console's API, masking and browser tests (they share one xdist group; the demo itself is `demo_run` in tests/conftest.py)."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from flywheel.config import Settings


@dataclass
class DemoWorld:
    settings: Settings
    keys: dict[str, str]
    """Role → key secret."""
    phone_person: str
    phone: str
    """A person with a phone contact point, and the phone in E.164 (what no analyst may see)."""


@pytest.fixture(scope="session")
def demo_world(demo_run) -> DemoWorld:
    from flywheel.console.keys import ApiKeys, keys_path
    from flywheel.warehouse import Warehouse, account_persons

    out, payload = demo_run
    settings = Settings(db_path=Path(payload["warehouse"]), key_file=out / "identifier.key")
    keys = {"owner": Path(payload["console"]["key_file"]).read_text().strip()}
    registry = ApiKeys(keys_path(settings.db_path))
    for role in ("analyst", "auditor", "marketer"):
        keys[role] = registry.create(role, f"test-{role}", "tests")[0]
    with Warehouse.open(settings) as wh:
        cp = wh.table("contact_points")
        phones = wh.fetch(cp.filter(cp.id_type == "phone").select("source", "account_key", "value")
                          .order_by(["source", "account_key"]).limit(50))
        phones = wh.sealer.unseal("contact_points", phones).to_pylist()
        ap = account_persons(wh)
        owners = {(r["source"], r["account_key"]): r["person_id"] for r in wh.fetch(ap).to_pylist()}
    first = next(p for p in phones if p["value"])
    return DemoWorld(settings, keys, owners[(first["source"], first["account_key"])], first["value"])


@pytest.fixture(scope="session")
def console_server(demo_world):
    """The console served by uvicorn on a free loopback port, for a real browser."""
    import uvicorn

    from flywheel.console import create_console

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_console(demo_world.settings, rate=200, burst=400),
                                           host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the console did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
