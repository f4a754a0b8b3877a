"""Deterministic identity resolution at scale: N accounts with about 3N identifiers on DuckDB.

    .venv/bin/python bench/identity.py [--accounts 1000000] [--engine duckdb]

The graph is synthetic but shaped like a merchant's: persons own 1–6 accounts on different
platforms that share phones, e-mails, unionids and user ids; web accounts carry anonymous ids;
noise includes office phones shared by colleagues, family devices and kiosk cookies (which must be
refused). Identifiers are written straight into a fresh warehouse (ingestion is benchmarked in
bench/ingest.py); the timed part is `resolve(full=True, matcher=None)` in a fresh subprocess, and
peak RSS is that process's own.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute  # noqa: F401

SOURCES = np.array(["web", "taobao", "tmall", "jd", "douyin", "wecom", "shopify", "miniprogram"])
TYPES = {"web": "user_id", "miniprogram": "user_id", "wecom": "wecom_external_userid", "taobao": "taobao_nick",
         "tmall": "taobao_nick", "jd": "jd_pin", "douyin": "douyin_buyer_id", "shopify": "email"}


def build(n_accounts: int, seed: int = 7) -> tuple[pa.Table, pa.Table]:
    rng = np.random.default_rng(seed)
    per_person = rng.choice([1, 1, 1, 2, 2, 3, 4, 6], size=n_accounts)
    person = np.repeat(np.arange(len(per_person)), per_person)[:n_accounts]
    source = SOURCES[rng.integers(0, len(SOURCES), n_accounts)]
    key = np.char.add(np.char.add(source.astype("U12"), "_"), np.arange(n_accounts).astype("U10"))
    first_seen = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    accounts = pa.table({
        "source": source, "account_key": key, "account_key_type": [TYPES[s] for s in source],
        "first_seen_at": pa.array(np.full(n_accounts, first_seen)).cast(pa.timestamp("us", tz="UTC")),
    })
    ids_source, ids_key, ids_type, ids_hash = [], [], [], []

    def add(mask: np.ndarray, id_type: str, values: np.ndarray) -> None:
        ids_source.append(source[mask]), ids_key.append(key[mask])
        ids_type.append(np.full(mask.sum(), id_type)), ids_hash.append(values[mask])

    web = np.isin(source, ["web", "miniprogram"])
    add(~web, "own", np.char.add("k:", key))  # the platform's own key (web accounts are keyed by user id)
    phone = np.char.add("ph:", person.astype("U10"))
    add(rng.random(n_accounts) < 0.55, "phone", phone)
    add(rng.random(n_accounts) < 0.35, "email", np.char.add("em:", person.astype("U10")))
    add(np.isin(source, ["wecom", "miniprogram"]) & (rng.random(n_accounts) < 0.7), "wechat_unionid",
        np.char.add("un:", person.astype("U10")))
    add(web, "user_id", np.char.add("u:", person.astype("U10")))
    add(web, "anonymous_id", np.char.add("an:", key))
    add(web & (rng.random(n_accounts) < 0.5), "anonymous_id", np.char.add("an2:", key))
    office = rng.random(n_accounts) < 0.002
    add(office, "phone", np.char.add("office:", (person // 50).astype("U10")))
    kiosk = web & (rng.random(n_accounts) < 0.001)
    add(kiosk, "anonymous_id", np.char.add("kiosk:", (person % 20).astype("U10")))
    typ = np.concatenate(ids_type)
    own = typ == "own"
    own_types = np.array([TYPES[s] for s in np.concatenate(ids_source)[own]])
    typ[own] = own_types
    identifiers = pa.table({
        "source": np.concatenate(ids_source), "account_key": np.concatenate(ids_key), "id_type": typ,
        "id_hash": np.concatenate(ids_hash), "is_partial": np.zeros(len(typ), bool), "run_id": np.full(len(typ), "bench"),
    })
    return accounts, identifiers


def run_one(db: str, engine: str) -> dict:
    os.environ["FLYWHEEL_DB"], os.environ["FLYWHEEL_ENGINE"] = db, engine
    os.environ["FLYWHEEL_KEY_FILE"] = str(Path(db).parent / "key")
    from flywheel.identity import identity_measures, resolve
    from flywheel.warehouse import Warehouse

    with Warehouse.open() as wh:
        started = time.perf_counter()
        report = resolve(wh, full=True, matcher=None)
        seconds = time.perf_counter() - started
        stats = identity_measures(wh)
    return {"seconds": round(seconds, 1), "persons": report.persons, "accounts": report.accounts,
            "links": report.links, "refusals": report.refusals, "largest": stats["largest_cluster"],
            "demoted": len(stats["demoted_identifiers"]),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def peer(identifiers: pa.Table, n_accounts: int) -> dict:
    """The floor: SciPy connected components over the same account–identifier graph, read from the
    same Arrow table, with no type limits, no degree guard and no stable ids (so it over-merges)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    started = time.perf_counter()
    account = pa.compute.binary_join_element_wise(identifiers["source"], identifiers["account_key"], "\x1f")
    value = pa.compute.binary_join_element_wise(identifiers["id_type"], identifiers["id_hash"], "\x1f")
    a = np.asarray(account.combine_chunks().dictionary_encode().indices)
    v = np.asarray(value.combine_chunks().dictionary_encode().indices) + n_accounts
    size = n_accounts + int(v.max()) + 1
    graph = coo_matrix((np.ones(len(a), np.int8), (a, v)), shape=(size, size))
    _, labels = connected_components(graph, directed=False)
    persons = len(np.unique(labels[:n_accounts]))
    biggest = int(np.bincount(labels[:n_accounts]).max())
    return {"seconds": round(time.perf_counter() - started, 1), "persons": persons, "largest_accounts": biggest}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--accounts", type=int, default=1_000_000)
    ap.add_argument("--engine", default="duckdb")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(run_one(args.child, args.engine)))
        return
    work = Path(tempfile.mkdtemp(prefix="flywheel-identity-bench-"))
    db = str(work / ("w.duckdb" if args.engine == "duckdb" else "wh"))
    os.environ["FLYWHEEL_DB"], os.environ["FLYWHEEL_ENGINE"] = db, args.engine
    os.environ["FLYWHEEL_KEY_FILE"] = str(work / "key")
    from flywheel.warehouse import Warehouse

    accounts, identifiers = build(args.accounts)
    with Warehouse.open() as wh:
        wh.append("accounts", accounts)
        wh.append("identifiers", identifiers)
    result = json.loads(subprocess.run([sys.executable, __file__, "--child", db, "--engine", args.engine],
                                       check=True, capture_output=True, text=True).stdout)
    result["peer_scipy_components"] = peer(identifiers, accounts.num_rows)
    result.update(engine=args.engine, identifiers=identifiers.num_rows, machine=platform.platform(),
                  cpus=os.cpu_count(), load=os.getloadavg())
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
