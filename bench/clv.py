"""Lifetime-value models: fit and scoring speed on simulated customers, with `lifetimes` beside them.

    .venv/bin/python bench/clv.py                        # 1M customers; lifetimes peer on 100k
    .venv/bin/python bench/clv.py --persons 200000 --peer-persons 20000   # a quicker look
    .venv/bin/python bench/clv.py --peer-persons 0       # without the peer
    .venv/bin/python bench/clv.py --peer-pareto-persons 20000   # lifetimes' Pareto/NBD on fewer

Customers come from the models' own generative processes (`flywheel.value.clv.simulate`, weekly
periods, T of 26-104 weeks, recency and T in whole days): BG/NBD data for BG/NBD and MBG/NBD,
Pareto/NBD data for Pareto/NBD, Gamma-Gamma spend for the BG/NBD cohort's repeat customers. Each fit
is timed from the raw per-customer columns (grouping into distinct rows included). Scoring is
`score_customers` with the fitted BG/NBD and Gamma-Gamma models: expected purchases, P(alive),
P(no purchase) over 52 weeks and discounted 52-week CLV per customer. The peer `lifetimes` fits the
first `--peer-persons` customers of the same data with its defaults; the same subset is also fitted
here so the speed ratio compares like with like. The run prints a Markdown table and the load.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings


from flywheel.value.clv import (
    BetaGeoModel,
    GammaGammaModel,
    ModifiedBetaGeoModel,
    ParetoNBDModel,
    score_customers,
    simulate_bgnbd,
    simulate_gamma_gamma,
    simulate_pareto_nbd,
)

BG_TRUTH = {"r": 0.24, "alpha": 4.41, "a": 0.79, "b": 2.43}  # near the CDNOW estimates
PARETO_TRUTH = {"r": 0.55, "alpha": 10.58, "s": 0.61, "beta": 11.67}
GG_TRUTH = {"p": 6.25, "q": 3.74, "v": 15.44}


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f}, {five:.2f}, {fifteen:.2f}"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"


def timed(label: str, call, rows: list, persons: int, note: str = "") -> object:
    before = load()
    started = time.perf_counter()
    result = call()
    seconds = time.perf_counter() - started
    rows.append((label, persons, seconds, note, before))
    print(f"{label:<34} {persons:>9,} {seconds:8.2f} s  load {before}  {note}", flush=True)
    return result


def params_note(model) -> str:
    return ", ".join(f"{k}={v:.4g}" for k, v in model.params_.items())


def peer(rows: list, persons: int, pareto_persons: int, bg_data, pareto_data, ours: dict) -> None:
    try:
        import lifetimes
    except ImportError:
        print("lifetimes is not installed: peer skipped")
        return
    warnings.filterwarnings("ignore")
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):  # the same BLAS setting flywheel's fits use
        _peer(rows, persons, pareto_persons, bg_data, pareto_data, ours, lifetimes)


def _peer(rows: list, persons: int, pareto_persons: int, bg_data, pareto_data, ours: dict, lifetimes) -> None:
    x, t_x, big_t = (c[:persons] for c in bg_data)
    fitted = timed("lifetimes BetaGeoFitter", lambda: lifetimes.BetaGeoFitter().fit(x, t_x, big_t), rows, persons)
    print("   ", ", ".join(f"{k}={v:.4g}" for k, v in fitted.params_.items()))
    mine = timed("flywheel BetaGeoModel (same data)", lambda: BetaGeoModel().fit(x, t_x, big_t), rows, persons)
    ours["bgnbd"] = (rows[-2][2], rows[-1][2], persons)
    print("   ", params_note(mine))
    if pareto_persons <= 0:
        return
    x, t_x, big_t = (c[:pareto_persons] for c in pareto_data)
    fitted = timed("lifetimes ParetoNBDFitter", lambda: lifetimes.ParetoNBDFitter().fit(x, t_x, big_t), rows,
                   pareto_persons)
    print("   ", ", ".join(f"{k}={v:.4g}" for k, v in fitted.params_.items()))
    mine = timed("flywheel ParetoNBDModel (same data)", lambda: ParetoNBDModel().fit(x, t_x, big_t), rows,
                 pareto_persons)
    ours["pareto"] = (rows[-2][2], rows[-1][2], pareto_persons)
    print("   ", params_note(mine))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--persons", type=int, default=1_000_000, help="customers for flywheel's fits and scoring")
    parser.add_argument("--peer-persons", type=int, default=100_000, help="customers for the lifetimes peer (0: skip)")
    parser.add_argument("--peer-pareto-persons", type=int, default=None,
                        help="customers for lifetimes' Pareto/NBD (default: --peer-persons; 0: skip it)")
    args = parser.parse_args()
    n = args.persons
    print(f"machine: {machine()}; load at start {load()}")

    size = max(n, args.peer_persons, args.peer_pareto_persons or 0)
    started = time.perf_counter()
    bg_x, bg_tx, bg_t, _ = simulate_bgnbd(size, **BG_TRUTH, seed=1)
    pa_x, pa_tx, pa_t, _ = simulate_pareto_nbd(size, **PARETO_TRUTH, seed=2)
    spend = simulate_gamma_gamma(bg_x, **GG_TRUTH, seed=3)
    print(f"simulated in {time.perf_counter() - started:.1f} s")

    rows: list = []
    x, t_x, big_t, m = bg_x[:n], bg_tx[:n], bg_t[:n], spend[:n]
    bg = timed("BG/NBD fit", lambda: BetaGeoModel().fit(x, t_x, big_t), rows, n)
    print("   ", params_note(bg), f"({bg.n_unique_rows_:,} distinct rows)")
    mbg = timed("MBG/NBD fit", lambda: ModifiedBetaGeoModel().fit(x, t_x, big_t), rows, n)
    print("   ", params_note(mbg))
    pareto = timed("Pareto/NBD fit", lambda: ParetoNBDModel().fit(pa_x[:n], pa_tx[:n], pa_t[:n]), rows, n)
    print("   ", params_note(pareto), f"({pareto.n_unique_rows_:,} distinct rows)")
    repeat = x > 0
    gg = timed("Gamma-Gamma fit", lambda: GammaGammaModel().fit(x[repeat], m[repeat]), rows, int(repeat.sum()))
    print("   ", params_note(gg))
    scores = timed("scoring (BG/NBD + Gamma-Gamma, 52 wk)", lambda: score_customers(
        bg, x, t_x, big_t, horizon=52, spend_model=gg, monetary_value=m, discount_rate=0.0019), rows, n)
    print(f"    total 52-week CLV {scores['clv'].sum():,.0f}; no NaN: {not scores.isna().any().any()}")
    timed("scoring (Pareto/NBD, 52 wk)", lambda: score_customers(
        pareto, pa_x[:n], pa_tx[:n], pa_t[:n], horizon=52), rows, n)

    ours: dict = {}
    if args.peer_persons > 0:
        pareto_persons = args.peer_persons if args.peer_pareto_persons is None else args.peer_pareto_persons
        peer(rows, args.peer_persons, pareto_persons, (bg_x, bg_tx, bg_t), (pa_x, pa_tx, pa_t), ours)

    print(f"\nload at end {load()}\n")
    print("| step | customers | seconds | load (1, 5, 15 min) at start |")
    print("|---|---|---|---|")
    for label, persons, seconds, _, before in rows:
        print(f"| {label} | {persons:,} | {seconds:.2f} | {before} |")
    for name, (theirs, mine, persons) in ours.items():
        print(f"\n{name}: lifetimes {theirs:.1f} s vs flywheel {mine:.2f} s on {persons:,} customers = {theirs / mine:.0f}x")


if __name__ == "__main__":
    main()
