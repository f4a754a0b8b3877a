"""Identity resolution benchmarks.

    .venv/bin/python bench/identity.py [--accounts 1000000] [--engine duckdb]
    .venv/bin/python bench/identity.py --simulated 20000 [--seed 7]    # quality on the simulated merchant

Scale (default): deterministic resolution of N accounts with about 3N identifiers on DuckDB.
Quality (`--simulated N`): generate the simulated merchant, ingest it, then time a full `resolve`
(identifiers, match model, person-level pass) in a fresh subprocess and grade it against `truth/`:
pairwise precision and recall over accounts, the linkable ceiling (recall if every true pair that
shares any observable value were linked), precision on every planted and natural trap, the
cross-platform ID match rate (truth and `identity stats`' figure), time and peak RSS. The peer in
the same run is the deterministic graph alone (`matcher=None`, no person-level pass).

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


def run_resolve(db: str, variant: str) -> dict:
    """Time one full resolution of the warehouse at `db` (child process: its own peak RSS)."""
    os.environ["FLYWHEEL_DB"] = db
    os.environ["FLYWHEEL_KEY_FILE"] = str(Path(db).parent / "key")
    import dataclasses

    from flywheel.identity import identity_measures, load_rules, resolve
    from flywheel.warehouse import Warehouse

    rules = load_rules()
    kw = {}
    if variant == "graph":
        kw["matcher"] = None
        rules = dataclasses.replace(rules, rare=dataclasses.replace(rules.rare, names=False, masked_phones=False))
    with Warehouse.open() as wh:
        started = time.perf_counter()
        report = resolve(wh, rules, full=True, **kw)
        seconds = time.perf_counter() - started
        stats = identity_measures(wh)
    return {"seconds": round(seconds, 1), "persons": report.persons, "notes": report.notes,
            "cross_platform_match_rate": stats["cross_platform_match_rate"],
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def simulated(persons: int, seed: int) -> dict:
    """Generate, ingest, resolve (two variants, each in a subprocess on a copy) and grade."""
    import shutil

    work = Path(tempfile.mkdtemp(prefix="flywheel-identity-sim-"))
    os.environ["FLYWHEEL_KEY_FILE"] = str(work / "key")
    os.environ["FLYWHEEL_DB"] = str(work / "ingested.duckdb")
    from flywheel.collect import ingest_paths
    from flywheel.identifiers import IdentifierHasher
    from flywheel.keys import load_or_create_key
    from flywheel.simulate import generate
    from flywheel.simulate.grading import identity_quality, observable_values
    from flywheel.warehouse import Warehouse

    generate(work / "sim", persons=persons, seed=seed)
    with Warehouse.open() as wh:
        ingest_paths(wh, [work / "sim"])
    out = {"persons_simulated": persons, "seed": seed}
    for variant in ("graph", "flywheel"):
        db = work / variant / "w.duckdb"
        db.parent.mkdir()
        shutil.copy(work / "ingested.duckdb", db)
        shutil.copy(work / "key", db.parent / "key")
        for extra in work.glob("*.key"):
            shutil.copy(extra, db.parent / extra.name)
        run = json.loads(subprocess.run([sys.executable, __file__, "--resolve-child", str(db), "--variant", variant],
                                        check=True, capture_output=True, text=True).stdout)
        os.environ["FLYWHEEL_DB"] = str(db)
        os.environ["FLYWHEEL_KEY_FILE"] = str(db.parent / "key")
        from flywheel.config import load_settings

        load_settings.cache_clear() if hasattr(load_settings, "cache_clear") else None
        with Warehouse.open() as wh:
            mapping = [(r["source"], r["account_key"], r["person_id"]) for r in wh.fetch("person_accounts").to_pylist()]
            quality = identity_quality(mapping, observable_values(wh), work / "sim" / "truth",
                                       IdentifierHasher(load_or_create_key(Path(os.environ["FLYWHEEL_KEY_FILE"]))))
        out[variant] = {**run, **quality.as_dict()}
    return out


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
    ap.add_argument("--simulated", type=int, metavar="PERSONS", help="quality run on the simulated merchant")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--resolve-child", help=argparse.SUPPRESS)
    ap.add_argument("--variant", default="flywheel", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(run_one(args.child, args.engine)))
        return
    if args.resolve_child:
        print(json.dumps(run_resolve(args.resolve_child, args.variant)))
        return
    if args.simulated:
        result = simulated(args.simulated, args.seed)
        result.update(machine=platform.platform(), cpus=os.cpu_count(), load=os.getloadavg())
        print(json.dumps(result, indent=2, ensure_ascii=False))
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
