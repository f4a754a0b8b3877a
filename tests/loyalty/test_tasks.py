"""Per-person daily caps for tasks and assists, enforced atomically across processes."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ProcessPoolExecutor
from zoneinfo import ZoneInfo

import pytest

from flywheel.loyalty.invariants import verify
from flywheel.loyalty.ledger import Ledger
from flywheel.loyalty.levels import stories
from flywheel.loyalty.rules import parse_rules
from flywheel.loyalty.tasks import assist, do_task

TZ = ZoneInfo("Asia/Shanghai")
RULES = parse_rules({"assist_campaigns": {"spring": {"unlock": {3: "sample", 10: "full_size"},
                                                     "per_helper_per_day": 3, "per_initiator": 1}}})
LATE = dt.datetime(2026, 3, 1, 23, 59, 59, tzinfo=TZ)


def _assist(path, initiator):
    with Ledger(path) as book:
        return assist(book, RULES, "helper", initiator, "spring", LATE, TZ)["status"]


def test_ten_parallel_assists_a_second_before_midnight_accept_three_then_the_counter_resets(tmp_path):
    path = tmp_path / "points.sqlite"
    Ledger(path).close()
    with ProcessPoolExecutor(10) as pool:
        statuses = list(pool.map(_assist, [path] * 10, [f"i{n}" for n in range(10)]))
    assert statuses.count("accepted") == 3 and statuses.count("daily_cap_reached") == 7
    with Ledger(path) as book:
        after = [assist(book, RULES, "helper", f"i{n}", "spring", LATE + dt.timedelta(seconds=2), TZ)["status"]
                 for n in range(10)]
        # the three who were helped yesterday are not helped twice; three others are, then the cap
        assert after.count("already_assisted") == 3 and after.count("accepted") == 3
        assert after.count("daily_cap_reached") == 4


def test_assists_unlock_prizes_and_refuse_self_help_and_wechat_links(tmp_path):
    with Ledger(tmp_path / "points.sqlite") as book:
        outcomes = [assist(book, RULES, f"h{n}", "star", "spring", LATE, TZ) for n in range(10)]
        assert [o["assists"] for o in outcomes] == list(range(1, 11))
        assert outcomes[1]["unlocked"] == [] and outcomes[2]["unlocked"] == ["sample"]
        assert outcomes[9]["unlocked"] == ["sample", "full_size"] and outcomes[9]["next"] is None
        assert assist(book, RULES, "star", "star", "spring", LATE, TZ)["status"] == "self_assist"
        assert assist(book, RULES, "h99", "star", "spring", LATE, TZ, "wechat_link")["status"] == \
            "wechat_external_link_banned"


def test_tasks_reward_points_and_growth_within_their_caps(tmp_path):
    rules = parse_rules({})
    with Ledger(tmp_path / "points.sqlite") as book:
        at = dt.datetime(2026, 3, 1, 10, tzinfo=TZ)
        done = [do_task(book, rules, "p1", "check_in", at, TZ, key=f"c{n}")["status"] for n in range(2)]
        assert done == ["accepted", "daily_cap_reached"]
        assert do_task(book, rules, "p1", "check_in", at + dt.timedelta(days=1), TZ, key="c9")["status"] == "accepted"
        review = do_task(book, rules, "p1", "review", at, TZ, key="r1", media="video")
        assert review["points"] == 30 and review["growth"] == 5
        assert do_task(book, rules, "p1", "review", at, TZ, key="r1", media="video")["status"] == "exists"
        assert do_task(book, rules, "p1", "complete_profile", at, TZ, key="cp1")["status"] == "accepted"
        assert do_task(book, rules, "p1", "complete_profile", at + dt.timedelta(days=9), TZ, key="cp2")["status"] == \
            "already_done"
        assert book.balance_row("p1")["available"] == 1 + 1 + 30 + 50
        assert sum(g for _, g in stories(book.con)["p1"].tasks) == 5 + 20
        assert verify(book.con)["ok"]
        with pytest.raises(Exception, match="unknown task"):
            do_task(book, rules, "p1", "dance", at, TZ, key="x")
