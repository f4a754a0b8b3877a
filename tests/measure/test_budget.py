"""Budget allocation: shares follow the posterior probability of being best, never below the floor,
and say why; over simulated days Thompson sampling loses far less than an even split."""

from __future__ import annotations

import numpy as np
import pytest
from flywheel_cli import cli

from flywheel.errors import InputError
from flywheel.measure.budget import Arm, recommend

pytestmark = pytest.mark.no_warehouse


def _shares(result) -> dict[str, float]:
    return {a["arm"]: a["share"] for a in result["arms"]}


def test_a_clear_winner_takes_all_but_the_floors_and_equal_arms_split_evenly():
    clear = recommend([Arm("a", 10_000, 400, share=0.5), Arm("b", 10_000, 200, share=0.3), Arm("c", 10_000, 150,
                                                                                               share=0.2)], floor=0.05)
    shares = _shares(clear)
    assert shares["b"] == pytest.approx(0.05) and shares["c"] == pytest.approx(0.05)
    assert shares["a"] == pytest.approx(0.90) and sum(shares.values()) == pytest.approx(1)
    a = clear["arms"][0]
    assert a["p_best"] > 0.999 and a["interval"][0] < 0.04 < a["interval"][1]
    assert a["why"].startswith("50.0% → 90.0%: P(best)") and "400 conversions in 10000 clicks" in a["why"]
    assert "floor" in clear["arms"][2]["why"]
    even = _shares(recommend([Arm(n, 5_000, 150) for n in "abcd"], floor=0.01))
    assert all(s == pytest.approx(0.25, abs=0.02) for s in even.values())


def test_without_data_every_arm_is_explored():
    shares = _shares(recommend([Arm("new", 0, 0), Arm("old", 50_000, 1_000)], floor=0.01))
    assert shares["new"] > 0.3, "a Beta(1, 1) prior may well beat 2%: the new arm gets real traffic"


def test_roi_posteriors_favour_the_higher_mean_and_explore_the_unknown():
    rng = np.random.default_rng(1)
    arms = [Arm("search", roi_days=tuple(rng.normal(0.8, 0.3, 30))), Arm("feed", roi_days=tuple(rng.normal(0.2, 0.3, 30))),
            Arm("brand_new", roi_days=())]
    shares = _shares(recommend(arms, "roi", floor=0.02))
    assert shares["search"] > shares["feed"] and shares["feed"] == pytest.approx(0.02)
    assert shares["brand_new"] > 0.02


def test_impossible_inputs_are_refused():
    with pytest.raises(InputError, match="cannot hold for 5 arms"):
        recommend([Arm(str(i), 10, 1) for i in range(5)], floor=0.25)
    with pytest.raises(InputError, match="between 0 and its clicks"):
        recommend([Arm("a", 10, 11), Arm("b", 10, 1)])
    with pytest.raises(InputError, match="at least two arms"):
        recommend([Arm("a", 10, 1)])
    with pytest.raises(InputError, match="between 0 and its clicks"):
        recommend([Arm("a", -5, 0), Arm("b", 10, 1)])
    with pytest.raises(InputError, match="between 0 and its clicks"):
        recommend([Arm("a", float("nan"), 0), Arm("b", 10, 1)])
    with pytest.raises(InputError, match="--floor is a share"):
        recommend([Arm("a", 10, 1), Arm("b", 10, 1)], floor=-0.1)
    with pytest.raises(InputError, match="finite number"):
        recommend([Arm("a", roi_days=(0.1, float("inf"))), Arm("b", roi_days=(0.2, 0.3))], "roi")
    assert len(recommend([Arm("a", 0, 0), Arm("b", 10, 1)], floor=0.0)["arms"]) == 2, "no floor is allowed"


def test_thompson_sampling_loses_much_less_than_an_even_split_over_simulated_days():
    rates = np.array([0.02, 0.03, 0.04])
    for seed in range(3):
        rng = np.random.default_rng(seed)
        clicks, conv = np.zeros(3), np.zeros(3)
        regret = 0.0
        for day in range(30):
            result = recommend([Arm(str(i), clicks[i], conv[i]) for i in range(3)], floor=0.01, seed=day)
            given = rng.multinomial(1000, [a["share"] for a in result["arms"]])
            conv += rng.binomial(given, rates)
            clicks += given
            regret += float((given * (rates.max() - rates)).sum())
        uniform = 30 * 1000 * float((rates.max() - rates).mean())
        assert regret < 0.35 * uniform, (seed, regret, uniform)


def test_the_recommend_command_reads_an_arms_file_and_refuses_without_one(tmp_path, capsys, monkeypatch):
    import json

    def run(*args):
        return cli(monkeypatch, capsys, *args)

    f = tmp_path / "arms.csv"
    f.write_text("arm,clicks,conversions,share\nsearch_a,12000,480,0.4\nsearch_b,9000,270,0.3\nfeed,9000,180,0.3\n",
                 encoding="utf-8")
    code, out, err = run("--json", "budget", "recommend", "--arms", str(f))
    assert code == 0, err
    result = json.loads(out)
    assert [a["arm"] for a in result["arms"]] == ["search_a", "search_b", "feed"]
    assert result["arms"][0]["share"] == pytest.approx(0.98) and result["arms"][0]["share_before"] == 0.4
    assert run("--json", "budget", "recommend", "--arms", str(f))[1] == out, "the same seed, the same split"
    code, out, err = run("budget", "recommend")
    assert code == 1 and "no attribution run yet" in err and "--arms FILE.csv" in err
    f.write_text("arm,clicks,conversions\na,10,x\n", encoding="utf-8")
    code, out, err = run("budget", "recommend", "--arms", str(f))
    assert code == 1 and ":2: conversions: not a number" in err


def test_a_daily_cap_moves_the_split_toward_the_target_and_no_further():
    arms = [Arm("a", 10_000, 400, share=0.5), Arm("b", 10_000, 200, share=0.3), Arm("c", 10_000, 150, share=0.2)]
    free = recommend(arms, floor=0.05)
    capped = recommend(arms, floor=0.05, max_change=0.1)
    moves = [abs(x["share"] - x["share_before"]) for x in capped["arms"]]
    assert max(moves) == pytest.approx(0.1) and sum(x["share"] for x in capped["arms"]) == pytest.approx(1)
    assert [x["target"] for x in capped["arms"]] == pytest.approx([x["share"] for x in free["arms"]])
    assert capped["arms"][0]["share"] == pytest.approx(0.6) and "heading for 90.0%" in capped["arms"][0]["why"]
    loose = recommend(arms, floor=0.05, max_change=0.5)
    assert [x["share"] for x in loose["arms"]] == pytest.approx([x["share"] for x in free["arms"]]), \
        "a cap larger than the move changes nothing"
    with pytest.raises(InputError, match="needs today's share"):
        recommend([Arm("a", 10, 1), Arm("b", 10, 2)], max_change=0.1)
