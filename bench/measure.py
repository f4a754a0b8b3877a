"""Attribution on aggregated paths: exact Markov chains of order 1–3 and the Shapley values over
10,000 distinct paths of 12 channels, each timed beside a plain NumPy peer in the same run.

    .venv/bin/python bench/measure.py [--paths 10000] [--channels 12] [--repeat 3] [--seed 1]

Paths are drawn with a fixed seed: lengths 1–8 (geometric-ish, like real journeys), channels with
Zipf-like popularity, conversions and nulls from a Poisson whose rate rises with the channels a
path holds. Timed: `attribute(paths, model)` — the path-file command's work after reading the file.
The peer is the order-1 absorbing chain written directly in NumPy (counts → dense matrix → one
`numpy.linalg.solve` per removed channel): what any exact order-1 implementation must at least do.
ChannelAttribution (the R/Python package users come from) simulates walks instead; it is GPL and
ships only as C++ source on PyPI, so it is not measured here (docs/benchmarks.md says so).
"""

from __future__ import annotations

import argparse
import os
import random
import time
from decimal import Decimal

import numpy as np
from ingest import machine  # bench/ is the script's folder, first on sys.path

from flywheel.measure import Paths, attribute


def make_paths(n: int, channels: int, seed: int) -> Paths:
    rng = random.Random(seed)
    counts = np.random.default_rng(seed)
    names = [f"ch{i:02d}" for i in range(channels)]
    weights = [1 / (i + 1) for i in range(channels)]
    p = Paths(has_nulls=True, has_values=True)
    seen = set()
    while len(p.touches) < n:
        length = min(8, 1 + int(rng.expovariate(0.45)))
        touches = tuple(rng.choices(names, weights, k=length))
        if touches in seen:
            continue
        seen.add(touches)
        rate = 0.3 + 0.4 * len(set(touches))
        conv, nulls = counts.poisson(rate), counts.poisson(4 * rate)
        p.add(touches, float(conv), float(nulls), Decimal(int(conv) * 189))
    return p


def numpy_order1(paths: Paths) -> dict[str, float]:
    """The peer: order-1 removal effects with a dense matrix and numpy.linalg.solve."""
    chans = paths.channels
    idx = {c: i + 1 for i, c in enumerate(chans)}
    n = len(chans) + 1
    counts = np.zeros((n, n))
    conv = np.zeros(n)
    null = np.zeros(n)
    for touches, c, z in zip(paths.touches, paths.conversions, paths.nulls):
        seq = [t for i, t in enumerate(touches) if i == 0 or touches[i - 1] != t]
        here = 0
        for t in seq:
            counts[here, idx[t]] += c + z
            here = idx[t]
        conv[here] += c
        null[here] += z
    out = counts.sum(axis=1) + conv + null
    q = counts / out[:, None]
    r = conv / out
    base = np.linalg.solve(np.eye(n) - q, r)[0]
    effects = {}
    for c in chans:
        keep = np.ones(n)
        keep[idx[c]] = 0
        effects[c] = 1 - np.linalg.solve(np.eye(n) - q * keep[:, None], r * keep)[0] / base
    return effects


def timed(fn, *args, **kwargs):
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - started, result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--paths", type=int, default=10_000)
    ap.add_argument("--channels", type=int, default=12)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    seconds, paths = timed(make_paths, args.paths, args.channels, args.seed)
    print(f"Machine: {machine()}; load average at the start {load}")
    print(f"Data: {len(paths.touches):,} distinct paths over {len(paths.channels)} channels, "
          f"{paths.total_conversions:,.0f} conversions, {sum(paths.nulls):,.0f} nulls (made in {seconds:.1f} s)\n")
    print("| model | best of runs, s | runs, s | detail |")
    print("|---|---|---|---|")
    rows = [("markov", 1), ("markov", 2), ("markov", 3), ("shapley", 1), ("shapley_exact", 1), ("linear", 1)]
    results = {}
    for model, order in rows:
        times = []
        for _ in range(args.repeat):
            t, results[(model, order)] = timed(attribute, paths, model, order)
            times.append(t)
        detail = f"P(conversion) {results[(model, order)]['conversion_probability']:.4f}"
        label = f"{model} order {order}" if model == "markov" else model
        print(f"| {label} | {min(times):.3f} | {', '.join(f'{t:.3f}' for t in times)} | {detail} |")
    times = []
    for _ in range(args.repeat):
        t, peer = timed(numpy_order1, paths)
        times.append(t)
    ours = results[("markov", 1)]["removal_effects"]
    worst = max(abs(ours[c] - peer[c]) for c in peer)
    print(f"| peer: NumPy dense order 1 | {min(times):.3f} | {', '.join(f'{t:.3f}' for t in times)} | "
          f"largest removal-effect difference from Flywheel's {worst:.1e} |")


if __name__ == "__main__":
    main()
