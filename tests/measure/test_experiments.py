"""Experiment statistics: Welch against SciPy, interval coverage by simulation (absolute, relative,
CUPED), always-valid sequential intervals under peeking, the Bayesian posterior, SRM, corrections."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from flywheel_cli import cli
from scipy import stats

from flywheel.measure.experiments import (
    Variation,
    analyze,
    benjamini_hochberg,
    confidence_sequence_half_width,
    holm,
    mde,
)

pytestmark = pytest.mark.no_warehouse


def _summary(name: str, y: np.ndarray, x: np.ndarray | None = None) -> Variation:
    if x is None:
        return Variation(name, len(y), float(y.sum()), float((y * y).sum()))
    return Variation(name, len(y), float(y.sum()), float((y * y).sum()), float(x.sum()), float((x * x).sum()),
                     float((x * y).sum()))


def _covers(lo: float, hi: float, truth: float) -> bool:
    return lo <= truth <= hi


def _binomial_ok(hits: int, trials: int, p: float = 0.95) -> bool:
    return abs(hits - trials * p) <= 3.5 * math.sqrt(trials * p * (1 - p))


def test_welch_agrees_with_scipy():
    c = Variation("c", 180, 180 * 10.2, 180 * (10.2 ** 2 + 4.1))
    t = Variation("t", 240, 240 * 11.0, 240 * (11.0 ** 2 + 9.3))
    r = analyze([c, t])["results"][0]
    ref = stats.ttest_ind_from_stats(t.mean, math.sqrt(t.var), t.n, c.mean, math.sqrt(c.var), c.n, equal_var=False)
    assert r["effect"] == pytest.approx(0.8)
    assert r["effect"] / r["se"] == pytest.approx(ref.statistic)
    assert r["p_value"] == pytest.approx(ref.pvalue)
    a, b = t.var / t.n, c.var / c.n
    assert r["df"] == pytest.approx((a + b) ** 2 / (a * a / (t.n - 1) + b * b / (c.n - 1)))


@pytest.mark.parametrize("relative", [False, True])
def test_intervals_cover_the_true_effect_about_95_percent_of_the_time(relative):
    rng = np.random.default_rng(1 if relative else 2)
    hits, trials = 0, 600
    for _ in range(trials):
        y_c = rng.gamma(2.0, 5.0, 400)  # skewed, like order values: mean 10
        y_t = rng.gamma(2.0, 5.5, 400)  # mean 11
        r = analyze([_summary("c", y_c), _summary("t", y_t)], relative=relative)["results"][0]
        hits += _covers(*r["ci"], 0.1 if relative else 1.0)
    assert _binomial_ok(hits, trials), hits


def test_proportions_from_zero_one_sums():
    c = Variation("c", 5000, 400, 400)  # 8.0%
    t = Variation("t", 5000, 460, 460)  # 9.2%
    r = analyze([c, t], relative=True)["results"][0]
    assert r["effect"] == pytest.approx(0.15)
    assert 0 < r["p_value"] < 0.05 and r["ci"][0] > 0


def test_cuped_narrows_the_interval_by_what_the_covariate_explains_and_stays_unbiased():
    rng = np.random.default_rng(3)
    rho, n, hits, trials, ratios = 0.7, 500, 0, 400, []
    for _ in range(trials):
        x = rng.normal(0, 1, (2, n))
        noise = rng.normal(0, 1, (2, n))
        y = 5 + rho * x + math.sqrt(1 - rho ** 2) * noise
        y[1] += 0.1
        plain = analyze([_summary("c", y[0]), _summary("t", y[1])])["results"][0]
        adjusted = analyze([_summary("c", y[0], x[0] + 3), _summary("t", y[1], x[1] + 3)])
        r = adjusted["results"][0]
        assert adjusted["cuped_theta"] == pytest.approx(rho, abs=0.1)
        hits += _covers(*r["ci"], 0.1)
        ratios.append(r["se"] / plain["se"])
    assert _binomial_ok(hits, trials), hits
    assert float(np.mean(ratios)) == pytest.approx(math.sqrt(1 - rho ** 2), rel=0.05)
    x = rng.normal(0, 1, (2, n))  # a covariate unrelated to the metric changes (almost) nothing
    y = rng.normal(5, 1, (2, n))
    plain = analyze([_summary("c", y[0]), _summary("t", y[1])])["results"][0]
    useless = analyze([_summary("c", y[0], x[0]), _summary("t", y[1], x[1])])["results"][0]
    assert useless["se"] == pytest.approx(plain["se"], rel=0.05)


def test_the_sequential_interval_stays_valid_under_peeking_where_the_fixed_one_does_not():
    """An A/A test looked at 20 times: the fixed interval excludes 0 at some look far more often than
    5%; the confidence sequence, at most about 5% of the time over all looks."""
    rng = np.random.default_rng(4)
    runs, looks, batch = 300, 20, 250
    fixed_false, seq_false = 0, 0
    for _ in range(runs):
        y = rng.normal(10, 3, (2, looks * batch))
        f_hit = s_hit = False
        for k in range(1, looks + 1):
            m = k * batch
            c, t = _summary("c", y[0, :m]), _summary("t", y[1, :m])
            f = analyze([c, t])["results"][0]
            s = analyze([c, t], method="sequential", tuning=5000)["results"][0]
            f_hit |= not _covers(*f["ci"], 0.0)
            s_hit |= not _covers(*s["ci"], 0.0)
        fixed_false += f_hit
        seq_false += s_hit
    assert fixed_false / runs > 0.15, fixed_false
    assert seq_false / runs <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / runs), seq_false


def test_the_sequence_is_wider_than_the_fixed_interval_and_tightest_near_its_tuning():
    se_at = lambda n: 3 * math.sqrt(2 / (n / 2))  # noqa: E731 - the se of a difference of means, n units in all
    widths = {n: confidence_sequence_half_width(se_at(n), n, 5000, 0.05) / (1.96 * se_at(n))
              for n in (500, 5000, 50000)}
    assert all(w > 1 for w in widths.values())
    assert widths[5000] < widths[500] and widths[5000] < widths[50000]


def test_bayesian_flat_prior_is_the_likelihood_and_a_proper_prior_shrinks():
    c, t = Variation("c", 1000, 5000, 27000), Variation("t", 1000, 5150, 28600)
    fixed = analyze([c, t])["results"][0]
    flat = analyze([c, t], method="bayesian")["results"][0]
    assert flat["effect"] == pytest.approx(fixed["effect"])
    assert flat["chance_to_win"] == pytest.approx(stats.norm.cdf(fixed["effect"] / fixed["se"]))
    shrunk = analyze([c, t], method="bayesian", prior_mean=0.0, prior_sd=fixed["se"])["results"][0]
    assert shrunk["effect"] == pytest.approx(fixed["effect"] / 2)
    assert shrunk["ci"][1] - shrunk["ci"][0] == pytest.approx((flat["ci"][1] - flat["ci"][0]) / math.sqrt(2))
    assert 0.5 < shrunk["chance_to_win"] < flat["chance_to_win"]


def test_sample_ratio_mismatch_warns_only_when_the_split_is_off():
    def srm(ns, weights=None):
        vs = [Variation(f"v{i}", n, n * 2.0, n * 5.0) for i, n in enumerate(ns)]
        return analyze(vs, weights=weights)

    assert srm([5000, 5400])["srm_warning"] and srm([5000, 5400])["srm_p_value"] < 0.001
    assert not srm([5000, 5050])["srm_warning"]
    assert not srm([8000, 2000], [80, 20])["srm_warning"] and srm([8000, 2000])["srm_warning"]


def test_holm_and_benjamini_hochberg_by_hand():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert benjamini_hochberg([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.04, 0.04])
    three = [Variation("c", 500, 500, 1500), Variation("a", 500, 560, 1700), Variation("b", 500, 520, 1600)]
    results = analyze(three)["results"]
    assert all(r["p_value_holm"] >= r["p_value_bh"] >= r["p_value"] for r in results)


def test_the_minimum_detectable_effect_is_detected_with_the_stated_power():
    rng = np.random.default_rng(5)
    effect = mde(4.0, 800)
    assert effect == pytest.approx((1.959964 + 0.841621) * math.sqrt(2 * 4 / 800), rel=1e-5)
    detected = sum(analyze([_summary("c", rng.normal(0, 2, 800)), _summary("t", rng.normal(effect, 2, 800))])
                   ["results"][0]["p_value"] < 0.05 for _ in range(500))
    assert abs(detected / 500 - 0.8) < 0.06, detected


def _cli(capsys, monkeypatch, *args):
    return cli(monkeypatch, capsys, *args)


def test_the_summary_command_contract_and_its_bad_input(tmp_path, capsys, monkeypatch):
    f = tmp_path / "s.csv"
    f.write_text("variation,n,sum,sum_squares\ncontrol,5000,400,400\nnew,5400,470,470\n", encoding="utf-8")
    code, out, err = _cli(capsys, monkeypatch, "--json", "experiment", "analyze", "--summary", str(f), "--method",
                          "fixed", "--relative", "--sequential-tuning", "5000")
    assert code == 0, err
    result = json.loads(out)
    assert {"variations", "srm_p_value", "results"} <= set(result)
    assert {"variation", "effect", "ci", "p_value", "chance_to_win"} <= set(result["results"][0])
    assert [v["variation"] for v in result["variations"]] == ["control", "new"]
    assert "sample ratio mismatch" in err, "5,000 against 5,400 is not a 50/50 split (p ≈ 9e-5)"
    for body, message in (("variation,n,sum\nc,10,1\nt,10,2\n", "no column 'sum_squares'"),
                          ("variation,n,sum,sum_squares\nc,1,1,1\nt,10,2,2\n", ":2: n: a whole number"),
                          ("variation,n,sum,sum_squares\nc,10,1,1\nt,10,x,2\n", ":3: sum: not a number"),
                          ("variation,n,sum,sum_squares\nc,10,10,1\nt,10,2,2\n", ":2: sum_squares: smaller"),
                          ("variation,n,sum,sum_squares\nc,10,1,1\n", "at least one treatment")):
        f.write_text(body, encoding="utf-8")
        code, out, err = _cli(capsys, monkeypatch, "experiment", "analyze", "--summary", str(f))
        assert code == 1 and message in err and len(err.strip().splitlines()) == 1, (body, err)


def test_a_ratio_metric_interval_covers_the_true_ratio_difference(tmp_path):
    """Revenue per session, sessions per person varying (1–9): units are persons, the metric a ratio."""
    from flywheel.measure.experiments import read_summary

    rng = np.random.default_rng(6)
    hits, trials = 0, 400
    for k in range(trials):
        rows = ["variation,n,sum,sum_squares,denominator_sum,denominator_sum_squares,sum_denominator_product"]
        for name, per_session in (("c", 20.0), ("t", 22.0)):
            sessions = rng.integers(1, 10, 600).astype(float)
            revenue = rng.gamma(2.0, per_session / 2.0, (600, 9)).cumsum(axis=1)[np.arange(600), sessions.astype(int) - 1]
            rows.append(f"{name},600,{revenue.sum()},{(revenue ** 2).sum()},{sessions.sum()},{(sessions ** 2).sum()},"
                        f"{(revenue * sessions).sum()}")
        (tmp_path / "r.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
        r = analyze(read_summary(tmp_path / "r.csv"))["results"][0]
        hits += _covers(*r["ci"], 2.0)
    assert _binomial_ok(hits, trials), hits
