"""The deterministic graph's rules on hand-built evidence: what links, what is refused, and why."""

from __future__ import annotations

from identity_world import World, partition, persons_of

from flywheel.identity import identity_measures, load_rules, resolve
from flywheel.identity.rules import IdentityRules, TypeRule


def _resolve(wh, **kw):
    return resolve(wh, matcher=None, **kw)


def test_shared_identifiers_join_accounts_across_platforms(warehouse):
    w = World(warehouse)
    a = w.account("web", "u1", user_id="u1", phone="13912340001")
    b = w.account("taobao", "tb_1", phone="139 1234 0001")
    c = w.account("wecom", "wm1", wechat_unionid="un1", phone="13912340001")
    d = w.account("miniprogram", "u9", wechat_unionid="un1")
    lonely = w.account("jd", "pin_x", phone="13700000123")
    w.land()
    _resolve(warehouse)
    assert partition(warehouse) == {frozenset({a, b, c, d}), frozenset({lonely})}


def test_two_user_ids_are_never_merged_by_a_shared_device(warehouse):
    w = World(warehouse)
    mum = w.account("web", "mum", user_id="mum", anonymous_id="family-ipad")
    kid = w.account("web", "kid", user_id="kid", anonymous_id="family-ipad")
    w.land()
    _resolve(warehouse)
    people = persons_of(warehouse)
    assert people[mum] != people[kid]
    [refusal] = warehouse.fetch(warehouse.table("identity_refusals")).to_pylist()
    assert refusal["reason"] == "limit" and "2 user_id values (limit 1)" in refusal["detail"]


def test_an_office_phone_does_not_join_colleagues(warehouse):
    w = World(warehouse)
    office = "13957188888"
    colleagues = [w.account("taobao", f"tb_{i}", phone=[f"1391111000{i}", office]) for i in range(4)]
    own_shops = [w.account("jd", f"pin_{i}", phone=f"1391111000{i}") for i in range(4)]
    w.land()
    _resolve(warehouse)
    assert partition(warehouse) == {frozenset({colleagues[i], own_shops[i]}) for i in range(4)}
    reasons = {r["reason"] for r in warehouse.fetch(warehouse.table("identity_refusals")).to_pylist()}
    assert reasons == {"limit"}


def test_a_kiosk_cookie_is_demoted_and_reported(warehouse):
    w = World(warehouse)
    shoppers = [w.account("web", f"u{i}", user_id=f"u{i}", anonymous_id="kiosk-7") for i in range(6)]
    # A lone visitor of the same kiosk also stays alone.
    w.account("web", "anon:kiosk-7", anonymous_id="kiosk-7")
    w.land()
    _resolve(warehouse)
    assert len(partition(warehouse)) == 7
    stats = identity_measures(warehouse)
    assert stats["demoted_identifiers"] == [{"id_type": "anonymous_id", "id_masked": "ki***-7", "persons": 7,
                                            "accounts": 7}]
    assert stats["largest_cluster"]["accounts"] == 1
    people = persons_of(warehouse)
    assert len({people[s] for s in shoppers}) == len(shoppers), "every shopper stays their own person"


def test_a_chain_of_allowed_links_that_breaks_a_limit_is_refused(warehouse):
    """e1 joins A and B, e2 joins B and C: each alone is fine, but A, B and C together would hold
    four phones (limit 2), so the e-mail links of that group are refused."""
    w = World(warehouse)
    a = w.account("shopify", "a", email="one@mail.cn", phone="13900000011")
    b = w.account("shopify", "b", email=["one@mail.cn", "two@mail.cn"])
    c = w.account("shopify", "c", email="two@mail.cn", phone=["13900000033", "13900000044"])
    w.land()
    _resolve(warehouse)
    assert partition(warehouse) == {frozenset({a}), frozenset({b}), frozenset({c})}
    reasons = {r["reason"] for r in warehouse.fetch(warehouse.table("identity_refusals")).to_pylist()}
    assert reasons == {"transitive_limit"}


def test_configured_blocked_values_never_link(warehouse):
    w = World(warehouse)
    a = w.account("jd", "p1", phone="13911112222")
    b = w.account("douyin", "d1", phone="13911112222")
    w.land()
    rules = load_rules()
    blocked = IdentityRules(rules.types, (("phone", "+8613911112222"),), False)
    _resolve(warehouse, rules=blocked)
    assert partition(warehouse) == {frozenset({a}), frozenset({b})}


def test_priority_and_limits_come_from_the_rules(warehouse):
    """With an e-mail limit of 1, two accounts that share a phone but hold different e-mails stay apart."""
    w = World(warehouse)
    a = w.account("shopify", "a", email="a@mail.cn", phone="13900000099")
    b = w.account("shopify", "b", email="b@mail.cn", phone="13900000099")
    w.land()
    strict = IdentityRules((TypeRule("email", 1, 8), TypeRule("phone", 2, 8)), (), False)
    _resolve(warehouse, rules=strict)
    assert partition(warehouse) == {frozenset({a}), frozenset({b})}
    _resolve(warehouse, full=True)
    assert partition(warehouse) == {frozenset({a, b})}


def test_an_openid_stays_under_its_unionid(warehouse):
    """An openid seen with two different unionids (a recycled or mis-attributed openid) cannot join
    them: the openid belongs under one unionid, so the link is refused, while an openid seen alone
    joins the person of its unionid."""
    w = World(warehouse)
    a = w.account("wecom", "wm1", wechat_unionid="unA", wechat_openid="op1")
    b = w.account("miniprogram", "u2", wechat_unionid="unB", wechat_openid="op1")
    c = w.account("miniprogram", "anon:x", wechat_openid="op2")
    d = w.account("wecom", "wm3", wechat_unionid="unA", wechat_openid="op2")
    w.land()
    _resolve(warehouse)
    assert partition(warehouse) == {frozenset({a, c, d}), frozenset({b})}
    refused = {(r["id_type"], r["reason"]) for r in warehouse.fetch("identity_refusals").to_pylist()}
    assert refused == {("wechat_openid", "limit")}
