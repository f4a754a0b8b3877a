"""Shared fixtures: an isolated warehouse and key per test, one Spark session per run."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from flywheel.config import load_settings

# The tests' data is tiny: two shuffle partitions run each stage in one wave on two cores (the traits
# parity test: 42 s with local[*]'s four, 30 s with two) and still exercise more than one partition.
os.environ.setdefault("FLYWHEEL_SPARK_PARTITIONS", "2")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    """Under `pytest -n`, every Spark test runs in one worker: one JVM and metastore per run, not per
    worker; so does every test of the one demo run (`demo_run`), which the console tests share."""
    for item in items:
        if item.get_closest_marker("spark") is not None or {"spark_warehouse", "spark_dir"} & set(
                getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.xdist_group("spark"))
        elif "demo_run" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("console"))


class _GroupingCheck:
    """Fails the run if `--dist loadgroup` stopped grouping (pytest 9.2 with xdist 3.8 did, silently:
    two JVMs and two console demos, one per worker)."""

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config, items):
        if not getattr(config.option, "loadgroup", False) or not hasattr(config, "workerinput"):
            return
        lost = [i.nodeid for i in items if i.get_closest_marker("xdist_group") and "@" not in i.nodeid]
        if lost:
            raise pytest.UsageError(f"--dist loadgroup is not grouping {lost[0]} (check the pytest and xdist pins)")


def pytest_configure(config):
    config.pluginmanager.register(_GroupingCheck(), "flywheel-grouping-check")


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory) -> tuple[Path, dict]:
    """`flywheel demo --persons 600` run once per test run: its output folder and its `--json` payload.
    The console tests serve its warehouse; the closed-loop test reads its payload and report."""
    import json
    import subprocess
    import sys

    out = tmp_path_factory.mktemp("demo-run")
    env = dict(os.environ, FLYWHEEL_KEY_FILE=str(out / "identifier.key"))
    env.pop("FLYWHEEL_DB", None)
    res = subprocess.run([sys.executable, "-m", "flywheel", "--json", "demo", "--persons", "600", "--out",
                          str(out / "demo")], capture_output=True, text=True, env=env, cwd=out)
    assert res.returncode == 0, res.stderr[-3000:]
    return out, json.loads(res.stdout)


@pytest.fixture(scope="session")
def template_warehouse(tmp_path_factory) -> Path:
    """An empty warehouse migrated to the current schema once per run (creating one costs ~1 s)."""
    from flywheel.config import Settings
    from flywheel.warehouse import Warehouse

    path = tmp_path_factory.mktemp("template") / "flywheel.duckdb"
    with Warehouse.open(Settings(db_path=path)):
        pass
    return path


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, template_warehouse: Path,
                      request: pytest.FixtureRequest):
    """Every test gets its own warehouse file (a copy of the migrated template; `@pytest.mark.no_warehouse`
    for none) and identifier key; nothing touches ~/.config."""
    if request.node.get_closest_marker("no_warehouse") is None:
        shutil.copyfile(template_warehouse, tmp_path / "flywheel.duckdb")
    monkeypatch.setenv("FLYWHEEL_DB", str(tmp_path / "flywheel.duckdb"))
    monkeypatch.setenv("FLYWHEEL_KEY_FILE", str(tmp_path / "identifier.key"))
    monkeypatch.delenv("FLYWHEEL_ENGINE", raising=False)
    load_settings.cache_clear()
    yield
    load_settings.cache_clear()


@pytest.fixture
def warehouse():
    from flywheel.warehouse import Warehouse

    with Warehouse.open() as wh:
        yield wh


@pytest.fixture(scope="session")
def spark_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("spark")


@pytest.fixture
def spark_warehouse(spark_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A Spark warehouse on the run's shared local session, emptied before each test."""
    pytest.importorskip("pyspark")
    from flywheel.warehouse import Warehouse

    monkeypatch.setenv("FLYWHEEL_ENGINE", "spark")
    monkeypatch.setenv("FLYWHEEL_DB", str(spark_dir / "warehouse"))
    load_settings.cache_clear()
    wh = Warehouse.open()
    _empty_spark_tables(wh)
    yield wh


def _empty_spark_tables(wh) -> None:
    """Leave the catalog's tables empty and drop any other (recreating all of them costs ~30 s a test
    on Hive's metastore; only the few a test wrote need emptying)."""
    from flywheel.schema.catalog import TABLES
    from flywheel.warehouse.store import VERSION_TABLE

    known = {t.name: t for t in TABLES}
    for name in wh.con.list_tables():
        if name == VERSION_TABLE:
            continue
        if name not in known or list(wh.con.table(name).columns) != known[name].names:
            wh.con.drop_table(name, force=True)
            if name in known:
                wh.con.create_table(name, schema=known[name].schema)
        elif wh.engine.may_have_rows(wh.con, name):
            wh.con.raw_sql(f"TRUNCATE TABLE `{name}`")
