"""`identity stats`: the cross-platform ID match rate, counted the way docs/identity.md defines it."""

from __future__ import annotations

from identity_world import World, persons_of

from flywheel.identity import identity_measures, resolve


def test_cross_platform_match_rate_counts_linked_and_visibly_split_customers(warehouse):
    w = World(warehouse)
    # Linked across two platforms (Taobao and WeChat) by a shared phone.
    w.account("taobao", "tb_a", phone="13912340001")
    w.account("wecom", "wm_a", phone="13912340001")
    # Taobao and Tmall share the Taobao login: one platform, however many sources.
    w.account("taobao", "nick_b", taobao_nick="nick_b")
    w.account("tmall", "nick_b", taobao_nick="nick_b")
    # Two buyers on JD and Douyin whose masked phones collide but whose names differ: kept apart,
    # and counted as a customer the data shows on two platforms who is not linked.
    jd = w.account("jd", "pin_c", name="张三丰", phone_masked="137****0003")
    dy = w.account("douyin", "d_c", name="李四光", phone_masked="137****0003")
    # A lone web visitor: on one platform, sharing nothing.
    w.account("web", "anon:x", anonymous_id="x")
    w.land()
    resolve(warehouse, matcher=None)
    people = persons_of(warehouse)
    assert people[jd] != people[dy]
    stats = identity_measures(warehouse)
    assert stats["persons_on_two_or_more_platforms"] == 1
    assert stats["split_cross_platform_pairs"] == 1
    assert stats["cross_platform_match_rate"] == 0.5
