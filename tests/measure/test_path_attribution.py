"""Attribution over path files: hand-computed answers, exact Markov against a brute-force walk of the
same chain, the Shapley identities, and the path-file command's contract and bad input."""

from __future__ import annotations

import json
import random
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from flywheel_cli import cli

from flywheel.measure import MarkovModel, Paths, attribute, read_path_file, shapley_exact, shapley_simplified
from flywheel.measure.models import rule_based

pytestmark = pytest.mark.no_warehouse


def _paths(rows: list[tuple[str, float, float]], value: bool = False) -> Paths:
    p = Paths(has_nulls=True, has_values=value)
    for text, conv, nulls in rows:
        p.add(tuple(c.strip() for c in text.split(">")), conv, nulls, Decimal(int(conv * 100)))
    return p


def _cli(capsys, monkeypatch, *args) -> tuple[int, str, str]:
    return cli(monkeypatch, capsys, *args)


def test_the_toy_whose_markov_credits_are_known_by_hand(tmp_path, capsys, monkeypatch):
    """c1>c2>c3 converts, c1 and c2>c3 do not: P(conversion) = 2/3·1/2·1/2 + 1/3·1/2 = 1/3; without c1
    only the c2 start converts (1/6), so its removal effect is 1/2; c2 and c3 are on every
    converting walk (1); credits 0.5 : 1 : 1 of one conversion."""
    f = tmp_path / "toy.csv"
    f.write_text("path,total_conversions,total_value,total_null\n c1 > c2 > c3 ,1,100.00,0\nc1,0,0,1\nc2 > c3,0,0,1\n",
                 encoding="utf-8")
    code, out, err = _cli(capsys, monkeypatch, "--json", "attribution", "paths", str(f), "--path-col", "path",
                          "--conv-col", "total_conversions", "--value-col", "total_value", "--null-col", "total_null",
                          "--sep", ">", "--model", "markov", "--order", "1")
    assert code == 0, err
    result = json.loads(out)
    assert {"model", "order", "conversion_probability", "credits", "value_credits", "removal_effects"} <= set(result)
    assert result["model"] == "markov" and result["order"] == 1
    assert result["conversion_probability"] == pytest.approx(1 / 3)
    assert result["credits"] == pytest.approx({"c1": 0.2, "c2": 0.4, "c3": 0.4})
    assert result["value_credits"] == {"c1": 20.0, "c2": 40.0, "c3": 40.0}
    assert result["removal_effects"] == pytest.approx({"c1": 0.5, "c2": 1.0, "c3": 1.0})


def test_order_two_remembers_where_a_visit_came_from():
    """a>b converts, c>b does not. Order 1 sees one b converting half the time and cannot tell a from c;
    order 2 knows b after a always converts and b after c never does."""
    paths = _paths([("a > b", 10, 0), ("c > b", 0, 10)])
    one, two = MarkovModel(1).fit(paths), MarkovModel(2).fit(paths)
    assert one.conversion_probability_ == pytest.approx(0.5) == two.conversion_probability_
    assert one.removal_effects_ == pytest.approx({"a": 0.5, "b": 1.0, "c": 0.5})
    assert two.removal_effects_ == pytest.approx({"a": 1.0, "b": 1.0, "c": 0.0})
    assert two.credits_ == pytest.approx({"a": 5.0, "b": 5.0, "c": 0.0})


def test_consecutive_repeats_are_one_visit():
    a = MarkovModel(2).fit(_paths([("a > a > b > b > b", 3, 1), ("b > b > c", 1, 2), ("c > a > a", 2, 2)]))
    b = MarkovModel(2).fit(_paths([("a > b", 3, 1), ("b > c", 1, 2), ("c > a", 2, 2)]))
    assert a.transition_probabilities() == pytest.approx(b.transition_probabilities())
    assert a.removal_effects_ == pytest.approx(b.removal_effects_)
    assert a.conversion_probability_ == pytest.approx(b.conversion_probability_)


def _random_paths(rng: random.Random, channels: list[str], n: int) -> Paths:
    p = Paths(has_nulls=True, has_values=True)
    seen = set()
    while len(p.touches) < n:
        touches = tuple(rng.choice(channels) for _ in range(rng.randint(1, 5)))
        if touches in seen:
            continue
        seen.add(touches)
        conv = rng.choice([0, 0, 1, 2, 5])
        p.add(touches, conv, rng.randint(0 if conv else 1, 8), Decimal(conv * rng.randint(50, 300)))
    return p


def _walk(paths: Paths, order: int, removed: str | None, walks: int, seed: int) -> float:
    """Brute force: the chain's transitions counted from the paths here (not by the model), then
    `walks` random walks from the start; a walk entering the removed channel stops unconverted."""
    counts: dict[tuple, dict[tuple, float]] = defaultdict(lambda: defaultdict(float))
    for touches, conv, nulls in zip(paths.touches, paths.conversions, paths.nulls):
        seq = [c for i, c in enumerate(touches) if i == 0 or touches[i - 1] != c]
        state: tuple = ("start",)
        for i in range(len(seq)):
            nxt = tuple(seq[max(0, i - order + 1): i + 1])
            counts[state][nxt] += conv + nulls
            state = nxt
        counts[state][("CONV",)] += conv
        counts[state][("NULL",)] += nulls
    table = {s: (list(d), np.cumsum(list(d.values())) / sum(d.values())) for s, d in counts.items()}
    rng = np.random.default_rng(seed)
    converted = 0
    for _ in range(walks):
        state = ("start",)
        while True:
            options, cum = table[state]
            state = options[int(np.searchsorted(cum, rng.random(), side="right"))]
            if state == ("CONV",):
                converted += 1
                break
            if state == ("NULL",) or state[-1] == removed:
                break
    return converted / walks


@pytest.mark.parametrize("order", [1, 2])
def test_exact_removal_effects_agree_with_a_brute_force_walk_within_sampling_error(order):
    paths = _random_paths(random.Random(order), ["tv", "search", "social", "email"], 40)
    model = MarkovModel(order).fit(paths)
    walks = 40_000
    for k, removed in enumerate([None, "search", "email"]):
        p_exact = model.conversion_probability_ if removed is None else \
            model.conversion_probability_ * (1 - model.removal_effects_[removed])
        p_walk = _walk(paths, order, removed, walks, seed=10 * order + k)  # fixed: the same walks at every run
        sigma = (p_exact * (1 - p_exact) / walks) ** 0.5
        assert abs(p_walk - p_exact) < 4 * sigma, (removed, p_walk, p_exact, sigma)


def test_every_model_shares_out_exactly_the_conversions_and_value():
    paths = _random_paths(random.Random(7), ["a", "b", "c", "d", "direct"], 60)
    for model in ("first", "last", "last_non_direct", "linear", "time_decay", "position", "markov", "shapley",
                  "shapley_exact"):
        result = attribute(paths, model, order=2)
        assert sum(result["credits"].values()) == pytest.approx(paths.total_conversions), model
        assert sum(result["value_credits"].values()) == pytest.approx(float(paths.total_value), abs=0.05), model
        assert all(v >= -1e-9 for v in result["credits"].values()), model


def test_rule_based_models_by_hand():
    p = _paths([("a > b > c > d", 10, 0)])
    assert rule_based(p, "first")[0] == {"a": 10, "b": 0, "c": 0, "d": 0}
    assert rule_based(p, "last")[0] == {"a": 0, "b": 0, "c": 0, "d": 10}
    assert rule_based(p, "linear")[0] == pytest.approx({"a": 2.5, "b": 2.5, "c": 2.5, "d": 2.5})
    assert rule_based(p, "position")[0] == pytest.approx({"a": 4, "b": 1, "c": 1, "d": 4})
    assert rule_based(p, "time_decay")[0] == pytest.approx({"a": 10 / 15, "b": 20 / 15, "c": 40 / 15, "d": 80 / 15})
    q = _paths([("email > direct", 3, 0), ("direct", 2, 0)])
    assert rule_based(q, "last_non_direct")[0] == {"email": 3, "direct": 2}, \
        "direct keeps the credit only when nothing else touched the path"
    assert rule_based(_paths([("a > b", 4, 0)]), "position")[0] == {"a": 2, "b": 2}


def test_shapley_closed_form_is_linear_credit_over_distinct_sets_and_equals_the_exact_value():
    paths = _random_paths(random.Random(3), [f"ch{i}" for i in range(8)], 120)
    simplified, simplified_value = shapley_simplified(paths)
    distinct = Paths(has_values=True)
    for touches, conv, value in zip(paths.touches, paths.conversions, paths.values):
        distinct.add(tuple(sorted(set(touches))), conv, 0, value)
    assert simplified == pytest.approx(rule_based(distinct, "linear")[0])
    exact, exact_value = shapley_exact(paths)
    assert exact == pytest.approx(simplified)
    assert {c: float(v) for c, v in exact_value.items()} == pytest.approx(
        {c: float(v) for c, v in simplified_value.items()})
    swapped = Paths()  # symmetry: channels that play the same role get the same value
    swapped.add(("x", "y"), 6)
    swapped.add(("y",), 2)
    swapped.add(("x",), 2)
    assert shapley_exact(swapped)[0] == pytest.approx({"x": 5, "y": 5})


def test_the_exact_shapley_value_refuses_more_than_twelve_channels_and_the_closed_form_does_not():
    from flywheel.errors import InputError

    paths = _random_paths(random.Random(5), [f"c{i:02}" for i in range(13)], 200)
    assert len(paths.channels) == 13
    with pytest.raises(InputError, match="at most 12 channels"):
        shapley_exact(paths)
    assert sum(shapley_simplified(paths)[0].values()) == pytest.approx(paths.total_conversions)


def test_bad_rows_are_named_and_left_out_and_the_good_rows_count(tmp_path, capsys, monkeypatch):
    f = tmp_path / "paths.csv"
    f.write_text("path;conv;nulls\nsearch > email;3;1\n;2;0\nsearch > > email;1;1\nemail;x;1\nemail;2;-1\n"
                 "search > email;1;0\n", encoding="utf-8")
    code, out, err = _cli(capsys, monkeypatch, "--json", "attribution", "paths", str(f), "--conv-col", "conv",
                          "--null-col", "nulls", "--model", "linear")
    assert code == 1 and "no column 'path' (--path-col)" in err and "Traceback" not in err
    (tmp_path / "comma.csv").write_text(f.read_text(encoding="utf-8").replace(";", ","), encoding="utf-8")
    code, out, err = _cli(capsys, monkeypatch, "--json", "attribution", "paths", str(tmp_path / "comma.csv"),
                          "--conv-col", "conv", "--null-col", "nulls", "--model", "linear")
    assert code == 0, err
    result = json.loads(out)
    assert [(r["line"], r["field"]) for r in result["rejected"]] == [(3, "path"), (4, "path"), (5, "conv"),
                                                                      (6, "nulls")]
    assert len(err.strip().splitlines()) == 4 and f"{tmp_path / 'comma.csv'}:5: conv: not a non-negative" in err
    assert result["credits"] == {"email": 2.0, "search": 2.0}, "the two good rows of one path are summed"
    assert result["conversion_probability"] == pytest.approx(4 / 5)
    code, out, err = _cli(capsys, monkeypatch, "attribution", "paths", str(tmp_path / "comma.csv"), "--conv-col",
                          "conv", "--model", "nope")
    assert code == 1 and "unknown model 'nope'" in err


def test_same_file_same_answer(tmp_path):
    rng = random.Random(11)
    f = tmp_path / "p.csv"
    rows = ["path,conv,null"] + [f"{' > '.join(rng.choice('abcde') for _ in range(rng.randint(1, 4)))},"
                                 f"{rng.randint(0, 5)},{rng.randint(0, 5)}" for _ in range(300)]
    f.write_text("\n".join(rows) + "\n", encoding="utf-8")
    first = attribute(read_path_file(f, "path", "conv", null_col="null"), "markov", 3)
    again = attribute(read_path_file(Path(f), "path", "conv", null_col="null"), "markov", 3)
    assert first == again and first["order"] == 3


def test_the_example_in_docs_measurement_md_is_what_the_command_prints(tmp_path):
    text = (Path(__file__).resolve().parents[2] / "docs" / "measurement.md").read_text(encoding="utf-8")
    csv_text = text.split("```csv\n", 1)[1].split("```", 1)[0]
    shown = json.loads(text.split("```json\n", 1)[1].split("```", 1)[0])
    (tmp_path / "paths.csv").write_text(csv_text, encoding="utf-8")
    paths = read_path_file(tmp_path / "paths.csv", "path", "total_conversions", "total_value", "total_null", ">")
    _assert_close(attribute(paths, "markov", 2), shown)


def _assert_close(got, shown, where="$"):
    """Equal, floats to 1e-12 relative (the last digit of a sparse solve differs between BLAS builds)."""
    if isinstance(shown, dict):
        assert isinstance(got, dict) and set(got) == set(shown), where
        for k in shown:
            _assert_close(got[k], shown[k], f"{where}.{k}")
    elif isinstance(shown, list):
        assert isinstance(got, list) and len(got) == len(shown), where
        for i, (g, s) in enumerate(zip(got, shown)):
            _assert_close(g, s, f"{where}[{i}]")
    elif isinstance(shown, float) and not isinstance(shown, bool):
        assert got == pytest.approx(shown, rel=1e-12, abs=1e-15), where
    else:
        assert got == shown, where


def test_files_are_decoded_as_exports_are_and_undecodable_ones_get_one_line(tmp_path, capsys, monkeypatch):
    gbk = tmp_path / "gbk.csv"
    gbk.write_bytes("path,total_conversions\n抖音 > 企业微信 > 淘宝,3\n抖音,1\n".encode("gb18030"))
    result = attribute(read_path_file(gbk, "path", "total_conversions"), "first")
    assert result["credits"] == {"企业微信": 0.0, "抖音": 4.0, "淘宝": 0.0}
    (tmp_path / "bin.csv").write_bytes(b"\xff\xfe\x00\x81\xff")
    for args in (("attribution", "paths", str(tmp_path / "bin.csv")),
                 ("experiment", "analyze", "--summary", str(tmp_path / "bin.csv")),
                 ("budget", "recommend", "--arms", str(tmp_path / "bin.csv"))):
        code, out, err = _cli(capsys, monkeypatch, *args)
        assert code == 1 and "bin.csv: cannot decode as UTF-8 or GB18030" in err and "bug" not in err, (args, err)
