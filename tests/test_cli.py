"""The command contracts of PRODUCT.md §6: --json prints one object and nothing else; errors are one
line on stderr with a non-zero exit."""

import json
import os
import subprocess
import sys
from pathlib import Path

SHOPIFY = Path(__file__).parent / "collect" / "fixtures" / "shopify" / "orders_export.csv"


def flywheel(*args, env_extra=None):
    env = dict(os.environ, **(env_extra or {}))
    return subprocess.run([sys.executable, "-m", "flywheel", *args], capture_output=True, text=True, env=env)


def test_ingest_json_prints_exactly_one_object_with_the_documented_keys(tmp_path):
    res = flywheel("--db", str(tmp_path / "w.duckdb"), "--json", "ingest", str(SHOPIFY))
    assert res.returncode == 0, res.stderr
    payload = json.loads(res.stdout)
    assert set(payload) >= {"files", "rows", "loaded", "duplicates", "quarantined"}
    assert set(payload["files"][0]) >= {"path", "source", "rows", "loaded", "duplicates", "quarantined"}
    assert (payload["rows"], payload["loaded"], payload["quarantined"]) == (5, 3, 2)


def test_errors_are_one_line_on_stderr_with_exit_1(tmp_path):
    (tmp_path / "x.csv").write_text("foo,bar\n1,2\n")
    res = flywheel("--db", str(tmp_path / "w.duckdb"), "--json", "ingest", str(tmp_path / "x.csv"))
    assert res.returncode == 1 and res.stdout == ""
    assert res.stderr.strip().count("\n") == 0 and "No adapter for this header" in res.stderr


def test_help_lists_the_commands():
    res = flywheel("--help")
    assert res.returncode == 0
    for cmd in ("demo", "generate", "ingest"):
        assert cmd in res.stdout


HEAVY = ("ibis", "pandas", "pyarrow", "fastapi", "splink", "pyspark", "numpy", "scipy", "plotly")
LIGHT_COMMANDS = [["--help"], ["identity", "--help"], ["sources", "list"], ["events", "stats", "--json"],
                  ["--role", "auditor", "audit", "verify"]]


def test_help_and_light_commands_load_no_heavy_library(tmp_path):
    """Start-up time (issue 11): `--help` and light commands import none of the heavy libraries."""
    probe = ("import sys\nfrom flywheel.cli import main\nsys.argv = ['flywheel', *sys.argv[1:]]\n"
             "try:\n    main()\nexcept SystemExit as e:\n    code = e.code\nelse:\n    code = 0\n"
             f"heavy = sorted(m for m in {HEAVY!r} if m in sys.modules)\n"
             "sys.stderr.write(f'\\nEXIT {code} HEAVY {heavy}\\n')\n")
    env_extra = {"FLYWHEEL_DB": str(tmp_path / "w.duckdb"), "FLYWHEEL_KEY_FILE": str(tmp_path / "k.key")}
    for args in LIGHT_COMMANDS:
        env = dict(os.environ, **env_extra)
        res = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True, env=env)
        last = res.stderr.strip().splitlines()[-1]
        assert last == "EXIT 0 HEAVY []", (args, res.stderr[-2000:])
