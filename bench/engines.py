"""The demo's stages on Spark local beside DuckDB, each stage timed, on the same simulated merchant.

    .venv/bin/python bench/engines.py [--persons 20000] [--engines duckdb,spark] [--out bench/out]

The merchant is simulated once (seed 7, as `flywheel demo`); each engine then runs in a fresh
process on a fresh warehouse: open (session start and schema migrations), ingest every export file,
resolve identities with the probabilistic matcher, score value, summarise and write the HTML report —
the stages of `flywheel demo`. DuckDB, Flywheel's default engine, is the floor. The load average is
printed before and after each run: the 2 cores of the reference machine are shared.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from ingest import machine  # bench/ is the script's folder, first on sys.path

CHILD = r"""
import json, os, resource, sys, time
from pathlib import Path
engine, data, out = sys.argv[1:4]
os.environ.update(FLYWHEEL_ENGINE=engine, FLYWHEEL_KEY_FILE=str(Path(out) / "identifier.key"),
                  FLYWHEEL_DB=str(Path(out) / ("flywheel.duckdb" if engine == "duckdb" else "warehouse")))
times = {}
def stage(name, fn):
    t = time.perf_counter()
    result = fn()
    times[name] = round(time.perf_counter() - t, 1)
    print(json.dumps({"stage": name, "seconds": times[name]}), file=sys.stderr, flush=True)
    return result
started = time.perf_counter()
from flywheel.collect import ingest_paths
from flywheel.collect.summary import summarize
from flywheel.identity import resolve
from flywheel.identity.probabilistic import match_accounts
from flywheel.report import build_report
from flywheel.value import score
from flywheel.warehouse import Warehouse
wh = stage("open", Warehouse.open)
ingest = stage("ingest", lambda: ingest_paths(wh, [Path(data)]))
people = stage("identity", lambda: resolve(wh, matcher=match_accounts))
stage("value", lambda: score(wh))
stage("report", lambda: build_report(wh, Path(out) / "report.html", "bench", summarize(wh)))
times["total"] = round(time.perf_counter() - started, 1)
jvm = None
if engine == "spark":
    from pyspark import SparkContext
    proc = getattr(SparkContext._gateway, "proc", None)
    if proc is not None:
        status = Path(f"/proc/{proc.pid}/status").read_text()
        jvm = int(next(l for l in status.splitlines() if l.startswith("VmHWM")).split()[1]) / 1024
print(json.dumps({"times": times, "rows": ingest.total("rows"), "persons": people.persons,
                  "python_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "jvm_peak_mb": jvm}))
"""


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def run(engine: str, data: Path, out: Path) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    before = load()
    res = subprocess.run([sys.executable, "-c", CHILD, engine, str(data), str(out)], check=False, capture_output=True, text=True)
    if res.returncode:
        raise SystemExit(f"{engine} failed:\n{res.stderr[-3000:]}")
    result = json.loads(res.stdout.strip().splitlines()[-1])
    result.update(engine=engine, load_before=before, load_after=load())
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--persons", type=int, default=20_000)
    ap.add_argument("--engines", default="duckdb,spark")
    ap.add_argument("--out", type=Path, default=Path("bench/out"))
    args = ap.parse_args()
    data = args.out / f"demo_{args.persons}"
    if not (data / "truth").exists():
        from flywheel.simulate import generate

        generate(data, persons=args.persons, seed=7)
    print(f"Machine: {machine()}; {args.persons:,} simulated persons\n")
    stages = ("open", "ingest", "identity", "value", "report", "total")
    print("| engine | " + " | ".join(f"{s} s" for s in stages) + " | peak RSS MB (Python + JVM) | load before → after |")
    print("|---|" + "---|" * (len(stages) + 2))
    for engine in args.engines.split(","):
        r = run(engine, data, args.out / f"warehouse_{engine}")
        peak = f"{r['python_peak_mb']:,.0f}" + (f" + {r['jvm_peak_mb']:,.0f}" if r["jvm_peak_mb"] else "")
        print(f"| {engine} | " + " | ".join(f"{r['times'][s]:.1f}" for s in stages)
              + f" | {peak} | {r['load_before']} → {r['load_after']} |", flush=True)


if __name__ == "__main__":
    main()
