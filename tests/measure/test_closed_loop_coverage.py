"""The closed loop over many seeds: Flywheel's hashed holdout, the simulator's persons answering a
WeCom message with a coupon, Flywheel's statistics — the 95% interval covers the true uplift about
95% of the time. (One seed through the whole pipeline, ingest to report, is
tests/activate/test_demo_activation.py.)"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest

from flywheel.measure.experiments import Variation, analyze
from flywheel.measure.registry import Experiment
from flywheel.simulate import ResponseModel, Touch, generate
from flywheel.simulate.response import START, converted

pytestmark = pytest.mark.slow
SEEDS = 300


def test_holdout_intervals_cover_the_true_uplift_at_the_nominal_rate(tmp_path: Path):
    generate(tmp_path / "sim", persons=2000, seed=11)
    model = ResponseModel.from_truth(tmp_path / "sim")
    persons = sorted(model.persons)
    until = START + dt.timedelta(days=7)
    covered, lifts, widths = 0, [], []
    for seed in range(SEEDS):
        world = dataclasses.replace(model, seed=10_000 + seed)
        exp = Experiment(f"loop{seed}", ("holdout", "treatment"), (0.2, 0.8), f"journey holdout:loop{seed}")
        ys: dict[str, list[int]] = {"holdout": [], "treatment": []}
        truth = []
        for p in persons:
            group = exp.assign(p)
            touches = [] if group == "holdout" else [Touch(
                at=START + dt.timedelta(hours=10), channel="wecom", offer="coupon", key=f"loop{seed}/{p}",
                coupon_code=f"C{seed}", coupon_cents=2000, min_order_cents=9900)]
            ys[group].append(int(converted(world.respond(p, touches, until), START, until)))
            if touches:
                truth.append(world.expected(p, touches, START, until).lift)
        result = analyze([Variation(g, len(y), sum(y), sum(y)) for g, y in ys.items()], weights=[0.2, 0.8])
        lo, hi = result["results"][0]["ci"]
        lift = sum(truth) / len(truth)
        covered += lo <= lift <= hi
        lifts.append(lift)
        widths.append(hi - lo)
    coverage = covered / SEEDS
    sd = (0.95 * 0.05 / SEEDS) ** 0.5
    assert abs(coverage - 0.95) < 3.5 * sd, (coverage, sum(lifts) / SEEDS, sum(widths) / SEEDS)
    assert 0 < sum(lifts) / SEEDS < 0.1, "a true uplift of a few points"
