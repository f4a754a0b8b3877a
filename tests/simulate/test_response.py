"""The forward response model: deterministic for a seed, baseline untouched by treatment, measured
lift within binomial bounds of the model's exact uplift, coupons used as documented, and response
orders written as exports that ingest next to the period's."""

import csv
import hashlib
import math
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from flywheel.collect import ingest_paths
from flywheel.errors import InputError
from flywheel.simulate import RESPONSE, Responder, ResponseModel, Touch, expected, generate, respond, write_orders
from flywheel.simulate.catalog import TRUE_PARAMS
from flywheel.simulate.response import START, converted
from flywheel.simulate.writers import EXPORT_FILES

ENTRY = START + timedelta(hours=10)


def _population(n: int, seed: int = 1) -> list[Responder]:
    """Persons drawn from the simulator's own priors, in every state, half of them WeCom contacts."""
    rng = np.random.default_rng(seed)
    rates = rng.gamma(TRUE_PARAMS.r, 1 / TRUE_PARAMS.alpha, n) * 3  # lapsing persons buy more often
    dropout = rng.beta(TRUE_PARAMS.a, TRUE_PARAMS.b, n)
    scale = rng.gamma(TRUE_PARAMS.q, 1 / TRUE_PARAMS.v, n)
    state = rng.choice(["active", "lapsed", "never_buyer"], n, p=[0.5, 0.32, 0.18])
    read = rng.choice([0.03, 0.1, 0.3, 0.55], n)
    contact = rng.random(n) < 0.5
    return [Responder(f"P{k + 1:07d}", "CN", float(rates[k]), float(dropout[k]), float(scale[k]),
                      state[k] == "active", str(state[k]), float(read[k]) if contact[k] else None)
            for k in range(n)]


def _coupon(person: Responder, at=ENTRY) -> Touch:
    return Touch(at, "wecom", "coupon", key=f"{person.person_id}|care", coupon_code=f"C{person.person_id}",
                 coupon_cents=2000, min_order_cents=9900)


def test_same_seed_gives_the_same_orders_and_touches_never_change_the_baseline():
    people = _population(400)
    until = START + timedelta(days=60)
    touches = {p.person_id: [_coupon(p), Touch(ENTRY + timedelta(days=3), "sms", key=f"{p.person_id}|sms")]
               for p in people}
    first = [respond(p, touches[p.person_id], until, seed=7) for p in people]
    assert first == [respond(p, touches[p.person_id], until, seed=7) for p in people]
    assert first != [respond(p, touches[p.person_id], until, seed=8) for p in people]
    assert sum(len(r) for r in first) > 100
    for p, treated in zip(people, first):
        alone = respond(p, [], until, seed=7)
        assert all(r.cause == "baseline" for r in alone)
        assert [(r.at, r.cents) for r in treated if r.cause == "baseline"] == [(r.at, r.cents) for r in alone]
        assert len([r for r in treated if r.cause != "baseline"]) <= 1, "one incremental order at most"
        shorter = START + timedelta(days=20)
        assert respond(p, touches[p.person_id], shorter, seed=7) == [r for r in treated if r.at < shorter]


def test_touches_before_the_period_end_or_without_a_zone_are_refused():
    person = _population(1)[0]
    with pytest.raises(InputError, match="before the response model starts"):
        respond(person, [Touch(START - timedelta(days=1), "sms")], START + timedelta(days=7), seed=1)
    with pytest.raises(InputError, match="no time zone"):
        respond(person, [Touch(ENTRY.replace(tzinfo=None), "sms")], START + timedelta(days=7), seed=1)
    with pytest.raises(InputError, match="unknown offer"):
        expected(person, [Touch(ENTRY, "sms", "lottery")], START, START + timedelta(days=7))


def _bound(probabilities: list[float]) -> float:
    """Standard error of a mean of independent Bernoulli outcomes with these probabilities."""
    return math.sqrt(sum(q * (1 - q) for q in probabilities)) / len(probabilities)


@pytest.mark.parametrize("days", [7, 1], ids=["week", "first-day"])
def test_measured_lift_against_a_holdout_is_within_binomial_bounds_of_the_true_uplift(days):
    """Treatment vs holdout, as a journey measures it; a one-day window also tests the delays."""
    people = _population(12_000, seed=3)
    holdout = np.random.default_rng(4).random(len(people)) < 0.5
    until = ENTRY + timedelta(days=days)
    policy = lambda p: [_coupon(p), Touch(ENTRY + timedelta(hours=20), "sms", key=f"{p.person_id}|sms")]  # noqa: E731
    outcome, truth_t, truth_h, effect, true_effect = [], [], [], [], []
    for p, held in zip(people, holdout):
        touches = [] if held else policy(p)
        got = converted(respond(p, touches, until, seed=11), ENTRY, until)
        outcome.append(got)
        exact = expected(p, touches, ENTRY, until)
        if held:
            truth_h.append(exact.baseline)
        else:
            truth_t.append(exact.converted)
            effect.append(got - converted(respond(p, [], until, seed=11), ENTRY, until))
            true_effect.append(exact.lift)
    outcome = np.array(outcome, float)
    measured = outcome[~holdout].mean() - outcome[holdout].mean()
    truth = np.mean(truth_t) - np.mean(truth_h)
    sigma = math.hypot(_bound(truth_t), _bound(truth_h))
    assert abs(measured - truth) < 4 * sigma, (measured, truth, sigma)
    assert measured > 4 * sigma and truth < 0.1, "a real but modest effect, far from a 28% win-back"
    # the treated persons' own potential outcomes (same baseline draws) pin the uplift tighter
    assert abs(np.mean(effect) - np.mean(true_effect)) < 4 * _bound(true_effect), (np.mean(effect),
                                                                                    np.mean(true_effect))


@pytest.mark.parametrize("start, until", [(timedelta(days=3, hours=1), timedelta(days=3, hours=9)),
                                          (timedelta(days=3, hours=18), timedelta(days=4, hours=2))],
                         ids=["night", "evening"])
def test_baseline_chances_hold_for_a_window_that_starts_later_and_mid_day(start, until):
    """Frequent buyers who drop out often: surviving to the window and the hour-of-day profile
    (little buying at night, much in the evening) both move the chance a lot."""
    rng = np.random.default_rng(5)
    people = [Responder(f"P{k + 1:07d}", "CN", float(rate), float(drop), 0.03, True, "active")
              for k, (rate, drop) in enumerate(zip(rng.uniform(0.05, 0.4, 8000), rng.uniform(0.1, 0.7, 8000)))]
    start, until = START + start, START + until
    got = [converted(respond(p, [], until, seed=2), start, until) for p in people]
    want = [expected(p, [], start, until).baseline for p in people]
    assert abs(np.mean(got) - np.mean(want)) < 4 * _bound(want), (np.mean(got), np.mean(want))


def test_coupons_are_used_once_by_the_caused_order_or_as_deadweight_by_a_baseline_one():
    people = [Responder(f"P{k + 1:07d}", "CN", 0.25, 0.01, 0.03, True, "active", 1.0) for k in range(3000)]
    until, caused, deadweight, baseline_in_validity = ENTRY + timedelta(days=7), 0, 0, 0
    for p in people:
        touch = _coupon(p)
        orders = respond(p, [touch], until, seed=3)
        used = [o for o in orders if o.coupon_code]
        assert len(used) <= 1 and all(o.coupon_code == touch.coupon_code and o.discount_cents == 2000
                                      and o.cents >= 9900 and o.paid_cents == o.cents - 2000 for o in used)
        caused += any(o.cause == touch.key for o in orders)
        assert all(o.coupon_code for o in orders if o.cause == touch.key)
        if not any(o.cause == touch.key for o in orders):
            eligible = [o for o in orders if o.cents >= 9900]
            baseline_in_validity += bool(eligible)
            deadweight += bool(used)
    # read for sure (read_p_end 1.0): caused with the coupon's conversion; otherwise deadweight
    assert abs(caused / len(people) - RESPONSE.conversion["coupon"]) < 4 * math.sqrt(0.15 * 0.85 / len(people))
    share = deadweight / baseline_in_validity
    assert abs(share - RESPONSE.coupon_deadweight) < 4 * math.sqrt(0.24 / baseline_in_validity), share


@pytest.fixture(scope="module")
def merchant(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("merchant")
    generate(path, persons=400, seed=2)
    return path


def _responses(merchant: Path):
    model = ResponseModel.from_truth(merchant)
    until = START + timedelta(days=45)
    out = []
    for person_id, person in model.persons.items():
        touches = [_coupon(person)] if person.wecom_read_p is not None else []
        out += model.respond(person_id, touches, until)
    return out


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _csv(path: Path, encoding: str = "utf-8") -> list[dict[str, str]]:
    with open(path, encoding=encoding, newline="") as handle:
        return list(csv.DictReader(handle))


def test_response_orders_are_exports_that_ingest_next_to_the_period(warehouse, merchant, tmp_path):
    responses = _responses(merchant)
    assert any(r.coupon_code for r in responses) and any(r.cause == "baseline" for r in responses)
    export = write_orders(tmp_path / "next", merchant, responses)
    again = write_orders(tmp_path / "again", merchant, responses)
    assert _digest(tmp_path / "next") == _digest(tmp_path / "again") and export.files == again.files
    truth = _csv(tmp_path / "next/truth/responses.csv")
    assert len(truth) == len(responses) == export.files["truth/orders.csv"]
    period = {(r["source"], r["order_id"]) for r in _csv(merchant / "truth/orders.csv")}
    assert not period & {(r["source"], r["order_id"]) for r in truth}, "order ids continue, never repeat"
    shop = _csv(tmp_path / "next/shopify/orders_export.csv")
    codes = {r["Name"]: r["Discount Code"] for r in shop if r["Financial Status"]}
    for r in truth:
        if r["coupon_code"]:
            assert r["source"] == "shopify" and codes[r["order_id"]] == r["coupon_code"]
    for rel in export.files:
        if not rel.startswith("truth/"):
            encoding, header = EXPORT_FILES[rel]
            assert list(_csv(tmp_path / "next" / rel, encoding)[0]) == list(header)

    report = ingest_paths(warehouse, [tmp_path / "next"])  # ids never repeat the period's: checked above
    mine = [f for f in report.files if str(tmp_path / "next") in f.path]
    assert mine and all(f.quarantined == 0 for f in mine)
    stored = {(r["source"], r["order_id"]) for r in warehouse.fetch(warehouse.table("orders")
                                                                    .select("source", "order_id")).to_pylist()}
    assert {(r["source"], r["order_id"]) for r in truth} <= stored
    later = write_orders(tmp_path / "later", merchant, responses[:5], after=tmp_path / "next")
    ids = {r["order_id"] for r in _csv(tmp_path / "later/truth/responses.csv")}
    assert not ids & {r["order_id"] for r in truth}, "a second round continues the first one's numbering"
    assert later.order_counters != export.order_counters


def test_a_folder_without_the_generators_truth_is_refused_in_one_line(merchant, tmp_path):
    with pytest.raises(InputError, match="not the truth/ of `flywheel generate`"):
        ResponseModel.from_truth(tmp_path)
    model = ResponseModel.from_truth(merchant)
    with pytest.raises(InputError, match="P9999999: no such person"):
        model.respond("P9999999", [], START + timedelta(days=1))
    stranger = respond(Responder("P0009999", "CN", 0.5, 0.0, 0.03, True, "active"), [],
                       START + timedelta(days=30), seed=1)
    with pytest.raises(InputError, match="persons the merchant"):
        write_orders(tmp_path / "x", merchant, stranger)
    with pytest.raises(InputError, match="no seed, persons and order counters"):
        write_orders(tmp_path / "x", tmp_path, [])
