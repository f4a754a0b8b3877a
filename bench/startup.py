"""Start-up time of light commands, beside `python -c pass` as the floor.

    .venv/bin/python bench/startup.py [--runs 10]

Each command runs `--runs` times as a fresh process (the console script of this venv) against a small
warehouse made once: a Shopify fixture ingested, one write key, an audit log of a few entries. The
median and the fastest run are printed as a Markdown table for docs/benchmarks.md. Target (issue 11):
`--help` and light commands under 0.5 s.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SHOPIFY = ROOT / "tests" / "collect" / "fixtures" / "shopify" / "orders_export.csv"

COMMANDS = {
    "python -c pass (floor)": [sys.executable, "-c", "pass"],
    "python -c 'import typer' (framework floor)": [sys.executable, "-c", "import typer"],
    "flywheel --help": [str(BIN / "flywheel"), "--help"],
    "flywheel sources list": [str(BIN / "flywheel"), "sources", "list"],
    "flywheel events stats --json": [str(BIN / "flywheel"), "events", "stats", "--json"],
    "flywheel audit verify (small log)": [str(BIN / "flywheel"), "--role", "auditor", "audit", "verify"],
}


def _timed(cmd: list[str], env: dict) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, FLYWHEEL_DB=str(Path(tmp) / "w.duckdb"),
                   FLYWHEEL_KEY_FILE=str(Path(tmp) / "keys" / "identifier.key"))
        flywheel = str(BIN / "flywheel")
        for setup in (["ingest", str(SHOPIFY)], ["--role", "owner", "sources", "add", "web"],
                      ["--role", "owner", "sources", "add", "app"]):
            subprocess.run([flywheel, *setup], env=env, check=True, stdout=subprocess.DEVNULL)
        print(f"Machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
              f"load average before: {os.getloadavg()[0]:.2f}; {args.runs} runs each\n")
        print("| command | median s | fastest s |\n|---|---|---|")
        for name, cmd in COMMANDS.items():
            _timed(cmd, env)
            times = [_timed(cmd, env) for _ in range(args.runs)]
            print(f"| {name} | {statistics.median(times):.3f} | {min(times):.3f} |", flush=True)
        print(f"\nload average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
