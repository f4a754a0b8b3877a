"""Growth value and levels: upgrades at once, downgrades at review, a refund inside the level period
re-evaluates at once, and the demotion warning."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from flywheel.loyalty.levels import Levels, Story
from flywheel.loyalty.rules import Growth, parse_rules

TZ = ZoneInfo("Asia/Shanghai")


def _t(month: int, day: int, year: int = 2025) -> dt.datetime:
    return dt.datetime(year, month, day, 12, tzinfo=TZ)


def _story() -> Story:
    story = Story()
    story.orders["A"] = [_t(1, 1), 60000, []]
    story.orders["B"] = [_t(2, 1), 150000, [(_t(3, 1), 20000)]]
    return story


def test_a_level_timeline_with_an_upgrade_a_refund_and_a_review_downgrade():
    levels = Levels(Growth(), TZ)
    story = _story()
    assert levels.standing(story, _t(1, 2)).level == "Silver"
    gold = levels.standing(story, _t(2, 2))
    assert (gold.level, gold.growth_value, gold.since) == ("Gold", 2100, _t(2, 1))
    after = levels.standing(story, _t(3, 2))
    assert (after.level, after.growth_value, after.since) == ("Silver", 1900, _t(3, 1))
    assert after.review_at == _t(3, 1) + dt.timedelta(days=365)
    # the window empties in early 2026, but the downgrade waits for the review on 2026-03-01
    quiet = levels.standing(story, _t(2, 20, 2026))
    assert (quiet.level, quiet.growth_value, quiet.demotion_due) == ("Silver", 0, True)
    reviewed = levels.standing(story, _t(3, 2, 2026))
    assert reviewed.level == "Member" and [h[2] for h in reviewed.history] == ["joined", "upgrade", "upgrade",
                                                                              "refund", "review"]


def test_a_refund_of_an_order_paid_before_the_level_period_waits_for_the_review():
    levels = Levels(Growth(), TZ)
    story = _story()
    story.orders["B"][2] = []
    story.orders["A"][2].append((_t(3, 1), 60000))  # A was paid before Gold began on 1 February
    standing = levels.standing(story, _t(3, 2))
    assert (standing.level, standing.growth_value) == ("Gold", 1500)
    assert not levels.standing(story, _t(3, 2)).demotion_due
    assert levels.standing(story, _t(1, 31, 2026)).level == "Gold"
    assert levels.standing(story, _t(2, 2, 2026)).level == "Member"  # reviewed on 2026-02-01, as B left the window


def test_calendar_year_and_anniversary_windows():
    calendar = Levels(parse_rules({"growth": {"window": "calendar_year"}}).growth, TZ)
    story = _story()
    assert calendar.standing(story, _t(12, 31)).growth_value == 1900
    assert calendar.standing(story, _t(1, 2, 2026)).growth_value == 0
    assert calendar.standing(story, _t(1, 2, 2026)).level == "Member"  # reviewed on 1 January
    anniversary = Levels(parse_rules({"growth": {"window": "anniversary"}}).growth, TZ)
    assert anniversary.standing(story, _t(12, 31)).growth_value == 1900
    assert anniversary.standing(story, _t(1, 2, 2026)).growth_value == 0


def test_level_rules_are_checked():
    import pytest

    from flywheel.loyalty.rules import LoyaltyRulesError

    for raw, says in (({"levels": [{"name": "A", "threshold": 5}]}, "levels[0].threshold"),
                      ({"levels": [{"name": "A", "threshold": 0}, {"name": "B", "threshold": 0}]}, "rise strictly"),
                      ({"growth": {"window": "weekly"}}, "growth.window"),
                      ({"points": {"earn": {"cny_per_point": 0}}}, "points.earn.cny_per_point"),
                      ({"assist_campaigns": {"c": {"unlock": {3: "sample"}, "wechat_external_links": True}}},
                       "WeChat's external-link rules")):
        with pytest.raises(LoyaltyRulesError, match=says.replace("[", r"\[").replace("]", r"\]")):
            parse_rules(raw, "rules.yaml")


def test_the_first_level_shortcut_gives_the_replayed_standings(tmp_path):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from test_batch import NOW, _orders

    from flywheel.loyalty.batch import earn_orders
    from flywheel.loyalty.ledger import Ledger
    from flywheel.loyalty.levels import standings, stories

    for window in ("rolling_days", "calendar_year"):
        levels = Levels(parse_rules({"growth": {"window": window}, "levels": [
            {"name": "M", "threshold": 0}, {"name": "S", "threshold": 300}, {"name": "G", "threshold": 900}]}).growth, TZ)
        with Ledger(tmp_path / f"{window}.sqlite") as book:
            earn_orders(book, _orders(9, 300), NOW)
            fast = standings(book.con, levels, NOW)
            told = stories(book.con)
            slow = {p: levels.standing(told.get(p, Story()), NOW) for p in fast}
        assert fast == slow
        assert len({s.level for s in fast.values()}) == 3 and sum(s.level == "M" for s in fast.values()) >= 3


def test_a_replay_split_over_processes_gives_the_same_levels(tmp_path, monkeypatch):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from test_batch import NOW, _orders

    from flywheel.loyalty import levels as module
    from flywheel.loyalty.batch import earn_orders
    from flywheel.loyalty.ledger import Ledger

    levels = Levels(Growth(), TZ)
    with Ledger(tmp_path / "p.sqlite") as book:
        earn_orders(book, _orders(3, 300), NOW)
        persons = [p for (p,) in book.con.execute("SELECT person FROM balances")]
        alone = module._replayed(book.con, levels, NOW, persons)
        monkeypatch.setattr(module, "PARALLEL_FROM", 1)
        shared = module._replayed(book.con, levels, NOW, persons)
    assert {p: s.as_dict() | {"history": []} for p, s in alone.items()} == \
        {p: s.as_dict() for p, s in shared.items()}
