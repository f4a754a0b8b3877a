"""Every error a user can cause is one line on stderr and exit code 1 — never a traceback.

Each command that opens a warehouse or a key runs against each bad input through the real entry
point (`flywheel.cli.main`), in process so the matrix stays fast.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from flywheel.cli import main
from flywheel.config import load_settings

SHOPIFY = Path(__file__).parent / "collect" / "fixtures" / "shopify" / "orders_export.csv"

COMMANDS = [
    ["ingest", str(SHOPIFY)],
    ["identity", "resolve", "--no-match"],
    ["identity", "stats"],
    ["identity", "explain", "p0"],
    ["identity", "export", "--of", "accounts", "--out", "{tmp}/out.csv"],
    ["events", "stats"],
    ["value", "score"],
    ["value", "alerts"],
    ["person", "show", "p0"],
    ["consent", "audience", "--purpose", "marketing_email", "--out", "{tmp}/aud.csv"],
    ["privacy", "export", "p0", "--out", "{tmp}/p0.json"],
    ["sources", "add", "web"],
    ["sources", "list"],
    ["audit", "verify"],
]


def _newer_warehouse(tmp: Path) -> dict:
    import duckdb

    db = tmp / "newer.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE schema_version (version BIGINT, applied_at TIMESTAMPTZ)")
    con.execute("INSERT INTO schema_version VALUES (99, now())")
    con.close()
    return {"args": ["--db", str(db)]}


def _junk(tmp: Path, name: str, content: bytes) -> Path:
    path = tmp / name
    path.write_bytes(content)
    return path


def _spark_dir_with_junk(tmp: Path) -> dict:
    folder = tmp / "notawarehouse"
    folder.mkdir()
    (folder / "holiday.jpg").write_bytes(b"\xff\xd8\xff")
    return {"args": ["--engine", "spark", "--db", str(folder)]}


BAD_INPUTS = {
    "db path that cannot be created": lambda tmp: {"args": ["--db", "/proc/flywheel/x.duckdb"]},
    "db is a directory": lambda tmp: {"args": ["--db", str(tmp)]},
    "db is not a DuckDB file": lambda tmp: {"args": ["--db", str(_junk(tmp, "notes.duckdb", b"hello\n"))]},
    "db of a newer schema": _newer_warehouse,
    "spark directory that is not a warehouse": _spark_dir_with_junk,
    "spark db that is a file": lambda tmp: {"args": ["--engine", "spark", "--db",
                                                     str(_junk(tmp, "w.duckdb", b"x"))]},
    "key file of binary junk": lambda tmp: {"env": {"FLYWHEEL_KEY_FILE": str(_junk(tmp, "k.key", b"\x00\xff\xfe"))}},
    "key file too short": lambda tmp: {"env": {"FLYWHEEL_KEY_FILE": str(_junk(tmp, "k.key", b"abcd\n"))}},
    "key file is a directory": lambda tmp: {"env": {"FLYWHEEL_KEY_FILE": str(tmp)}},
    "unknown role": lambda tmp: {"args": ["--role", "nobody"]},
    "unknown engine": lambda tmp: {"args": ["--engine", "oracle"]},
    "unknown time zone": lambda tmp: {"env": {"FLYWHEEL_TIMEZONE": "Mars/Olympus"}},
}
MUST_FAIL = {
    "db path that cannot be created": {"ingest", "identity", "value", "person", "consent", "privacy"},
    "db of a newer schema": {"ingest", "identity", "value", "person", "consent", "privacy"},
    "key file of binary junk": {"ingest"},
    "unknown role": {c[0] for c in COMMANDS},
    "unknown engine": {c[0] for c in COMMANDS},
}


def _invoke(args: list[str], monkeypatch, capsys) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["flywheel", *args])
    load_settings.cache_clear()
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.slow
@pytest.mark.parametrize("bad", list(BAD_INPUTS))
def test_each_command_fails_in_one_line_on_bad_input(bad, tmp_path, monkeypatch, capsys):
    setup = BAD_INPUTS[bad](tmp_path)
    for name, value in setup.get("env", {}).items():
        monkeypatch.setenv(name, value)
    failed = set()
    for command in COMMANDS:
        args = [a.replace("{tmp}", str(tmp_path)) for a in command]
        code, out, err = _invoke([*setup.get("args", []), "--role", "owner", *args, "--json"]
                                 if bad != "unknown role" else [*args, "--json", *setup["args"]],
                                 monkeypatch, capsys)
        where = f"{bad} / {' '.join(command)}"
        assert "Traceback" not in err, where
        assert code in (0, 1), f"{where}: exit {code}: {err}"
        if code == 1:
            failed.add(command[0])
            assert out == "", f"{where}: --json output on failure: {out!r}"
            assert err.startswith("flywheel: ") and err.count("\n") == 1, f"{where}: {err!r}"
    assert MUST_FAIL.get(bad, set()) <= failed, f"{bad}: these should have refused: {MUST_FAIL[bad] - failed}"
    if bad not in MUST_FAIL:
        assert failed, f"{bad}: no command noticed"


def test_a_warehouse_locked_by_another_process_is_one_line(tmp_path, monkeypatch, capsys):
    db = tmp_path / "w.duckdb"
    holder = subprocess.Popen([sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
                               "print('held', flush=True); time.sleep(120)", str(db)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        started = time.perf_counter()
        code, out, err = _invoke(["--db", str(db), "ingest", str(SHOPIFY)], monkeypatch, capsys)
        assert code == 1 and "Traceback" not in err and err.count("\n") == 1, err
        assert "lock" in err and str(holder.pid) in err
        assert time.perf_counter() - started < 30
    finally:
        holder.kill()
        holder.wait()


def test_an_unknown_purpose_is_one_line(monkeypatch, capsys, tmp_path):
    code, _, err = _invoke(["--role", "marketer", "consent", "audience", "--purpose", "nosuch",
                            "--out", str(tmp_path / "a.csv")], monkeypatch, capsys)
    assert code == 1 and err.count("\n") == 1 and "unknown purpose 'nosuch'" in err
