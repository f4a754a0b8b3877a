"""Daily budget allocation over 5 ad groups converting at 2–4%: Thompson sampling against uniform,
ε-greedy and the oracle, over many seeds.

    .venv/bin/python bench/budget.py [--seeds 100] [--days 60] [--clicks 1000] [--floor 0.01]

Each day every policy splits `--clicks` clicks over the ad groups (multinomial on its shares), the
clicks convert with the groups' true rates (binomial), and the policy sees yesterday's totals.
Regret is expected conversions lost against sending every click to the best group:
Σ days Σ groups clicks × (best rate − group rate). Thompson sampling is `flywheel.measure.budget.
recommend` (Beta–Bernoulli, probability matching, a floor per group); ε-greedy sends 90% to the
group with the best observed rate and spreads 10% evenly; uniform spreads evenly; the oracle knows.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from ingest import machine  # bench/ is the script's folder, first on sys.path

from flywheel.measure.budget import Arm, recommend

RATES = np.array([0.02, 0.025, 0.03, 0.035, 0.04])


def run(policy: str, seed: int, days: int, clicks: int, floor: float) -> float:
    rng = np.random.default_rng(seed)
    k = len(RATES)
    seen_clicks, seen_conv = np.zeros(k), np.zeros(k)
    regret = 0.0
    for day in range(days):
        if policy == "uniform":
            shares = np.full(k, 1 / k)
        elif policy == "oracle":
            shares = np.eye(k)[RATES.argmax()]
        elif policy == "epsilon_greedy":
            rates = np.where(seen_clicks > 0, seen_conv / np.maximum(seen_clicks, 1), 1.0)
            shares = np.full(k, 0.1 / k)
            shares[rates.argmax()] += 0.9
        else:
            arms = [Arm(f"g{i}", seen_clicks[i], seen_conv[i]) for i in range(k)]
            shares = np.array([a["share"] for a in recommend(arms, "rate", floor, seed=seed * 1000 + day)["arms"]])
        given = rng.multinomial(clicks, shares / shares.sum())
        conv = rng.binomial(given, RATES)
        seen_clicks += given
        seen_conv += conv
        regret += float((given * (RATES.max() - RATES)).sum())
    return regret


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=100)
    ap.add_argument("--days", type=int, default=60)
    ap.add_argument("--clicks", type=int, default=1000)
    ap.add_argument("--floor", type=float, default=0.01)
    args = ap.parse_args()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"Machine: {machine()}; load average at the start {load}")
    print(f"{len(RATES)} ad groups converting at {', '.join(f'{r:.1%}' for r in RATES)}; {args.clicks:,} clicks a day, "
          f"{args.days} days, {args.seeds} seeds; Thompson floor {args.floor:.0%} per group\n")
    print("| policy | mean regret (conversions) | sd | share of uniform's | seconds |")
    print("|---|---|---|---|---|")
    uniform = None
    for policy in ("uniform", "oracle", "epsilon_greedy", "thompson"):
        started = time.perf_counter()
        regrets = np.array([run(policy, s, args.days, args.clicks, args.floor) for s in range(args.seeds)])
        seconds = time.perf_counter() - started
        uniform = regrets.mean() if policy == "uniform" else uniform
        print(f"| {policy} | {regrets.mean():.1f} | {regrets.std(ddof=1):.1f} | {regrets.mean() / uniform:.1%} "
              f"| {seconds:.1f} |")


if __name__ == "__main__":
    main()
