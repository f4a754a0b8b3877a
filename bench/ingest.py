"""Ingestion throughput and peak memory per export format, beside a plain DuckDB CSV load.

    .venv/bin/python bench/ingest.py [--rows 1000000] [--formats shopify,taobao,jd,douyin] [--out bench/out]

Each format's file is built by tiling the simulator's export of that format (order ids made unique
per copy) up to `--rows` data rows. Each measurement runs in a fresh subprocess with a fresh
warehouse, so peak RSS is that run's own. The physical floor is `CREATE TABLE … AS SELECT * FROM
read_csv(…)` of the same file in DuckDB (typed by DuckDB's sniffer, no validation, no hashing).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

FORMATS = {
    # format: (file in the simulator output, encoding, columns made unique per copy)
    "shopify": ("shopify/orders_export.csv", "utf-8", ("Name", "Id")),
    "taobao": ("taobao/taobao_orders.csv", "gb18030", ("订单编号",)),
    "jd": ("jd/jd_orders.csv", "utf-8", ("订单号",)),
    "douyin": ("douyin/douyin_orders.csv", "utf-8-sig", ("主订单编号", "子订单编号")),
}


def build_file(sim: Path, fmt: str, rows: int, out: Path) -> Path:
    rel, encoding, unique = FORMATS[fmt]
    target = out / f"{fmt}_{rows}.csv"
    if target.exists():
        return target
    with open(sim / rel, encoding=encoding, newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        template = [r for r in reader if len(r) == len(header)]
    idx = [header.index(c) for c in unique if c in header]
    with open(target, "w", encoding=encoding, newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        written, copy = 0, 0
        while written < rows:
            for r in template:
                if written >= rows:
                    break
                if copy:
                    r = list(r)
                    for i in idx:
                        if r[i]:
                            r[i] = r[i].replace('="', "").rstrip('"') + f"-{copy}"
                w.writerow(r)
                written += 1
            copy += 1
    return target


def measure_flywheel(path: Path, workdir: Path) -> dict:
    """Run one ingestion in a child process; returns rows/s and its peak RSS."""
    code = f"""
import json, os, resource, time
os.environ["FLYWHEEL_DB"] = {str(workdir / 'bench.duckdb')!r}
os.environ["FLYWHEEL_KEY_FILE"] = {str(workdir / 'bench.key')!r}
from flywheel.warehouse import Warehouse
from flywheel.collect import ingest_paths
wh = Warehouse.open()
t = time.perf_counter()
r = ingest_paths(wh, [{str(path)!r}]).files[0]
s = time.perf_counter() - t
print(json.dumps(dict(seconds=s, rows=r.rows, loaded=r.loaded, quarantined=r.quarantined,
                      peak_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)))
"""
    for f in workdir.glob("bench.duckdb*"):
        f.unlink()
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def measure_duckdb(path: Path, encoding: str, workdir: Path) -> dict:
    code = f"""
import json, resource, time, duckdb, os
db = {str(workdir / 'floor.duckdb')!r}
if os.path.exists(db): os.remove(db)
con = duckdb.connect(db)
t = time.perf_counter()
enc = {("" if encoding.startswith("utf-8") else ", encoding='utf-8'")!r}
con.execute(f"CREATE TABLE t AS SELECT * FROM read_csv({str(path)!r}{{enc}})")
n = con.execute("SELECT count(*) FROM t").fetchone()[0]
s = time.perf_counter() - t
print(json.dumps(dict(seconds=s, rows=n, peak_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)))
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def utf8_copy(path: Path, encoding: str) -> Path:
    """DuckDB's reader has no GB18030 without an extension download; the floor reads a UTF-8 copy."""
    if encoding.startswith("utf-8"):
        return path
    target = path.with_suffix(".utf8.csv")
    if not target.exists():
        target.write_text(path.read_text(encoding=encoding), encoding="utf-8")
    return target


def machine() -> str:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores ({cpu}), {mem:.0f} GiB, Python {platform.python_version()}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--formats", default=",".join(FORMATS))
    ap.add_argument("--out", type=Path, default=Path("bench/out"))
    ap.add_argument("--persons", type=int, default=20_000)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    sim = args.out / f"sim_{args.persons}"
    if not (sim / "truth").exists():
        from flywheel.simulate import generate

        generate(sim, persons=args.persons, seed=11)
    print(f"Machine: {machine()}\n")
    print("| format | rows | Flywheel s | Flywheel rows/s | peak RSS MB | DuckDB read_csv s | floor rows/s | ratio |")
    print("|---|---|---|---|---|---|---|---|")
    for fmt in args.formats.split(","):
        path = build_file(sim, fmt, args.rows, args.out)
        fw = measure_flywheel(path, args.out)
        floor = measure_duckdb(utf8_copy(path, FORMATS[fmt][1]), FORMATS[fmt][1], args.out)
        fw_rate, floor_rate = fw["rows"] / fw["seconds"], floor["rows"] / floor["seconds"]
        print(f"| {fmt} | {fw['rows']:,} | {fw['seconds']:.1f} | {fw_rate:,.0f} | {fw['peak_mb']:,.0f} | "
              f"{floor['seconds']:.2f} | {floor_rate:,.0f} | {floor_rate / fw_rate:.1f}× |", flush=True)


if __name__ == "__main__":
    main()
