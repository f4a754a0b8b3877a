"""The console's doors: keys, sessions, CSRF, the rate limit, the error envelope and the language,
on the hand-made merchant of the insight tests."""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from flywheel.config import load_settings
from flywheel.console import create_console
from flywheel.console.keys import ApiKeys, keys_path
from flywheel.insight import build_rollups

sys.path.insert(0, str(Path(__file__).parents[1] / "insight"))
import insight_world  # noqa: E402

FORM = {"content-type": "application/x-www-form-urlencoded"}


@pytest.fixture
def world(warehouse):
    insight_world.build(warehouse)
    build_rollups(warehouse, now=insight_world.at("2026-06-01T00:00"))
    settings = load_settings()
    registry = ApiKeys(keys_path(settings.db_path))
    keys = {role: registry.create(role, f"k-{role}", "tests")[0] for role in ("owner", "analyst", "auditor")}
    warehouse.close()
    return settings, registry, keys


def client(settings, **kw) -> TestClient:
    return TestClient(create_console(settings, **kw))


def login(c: TestClient, key: str, next_: str = "/") -> str:
    """Log in through the form; returns the session's CSRF token (from the page's meta tag)."""
    form = c.get("/login").text
    token = re.search(r'name="csrf" value="([^"]+)"', form).group(1)
    r = c.post("/login", content=f"key={key}&csrf={token}&next={next_}", headers=FORM, follow_redirects=False)
    assert r.status_code == 303, r.text
    page = c.get("/").text
    return re.search(r'<meta name="csrf-token" content="([^"]+)"', page).group(1)


def test_api_refuses_missing_and_bad_keys_with_the_envelope_and_answers_good_ones(world):
    settings, _, keys = world
    c = client(settings)
    r = c.get("/api/v1/metrics/overview")
    assert r.status_code == 401 and r.json() == {"error": {"code": "unauthenticated", "message": r.json()["error"]["message"]}}
    assert c.get("/api/v1/metrics/overview", headers={"X-API-Key": "fwk_nope_x"}).json()["error"]["code"] == "invalid_key"
    assert c.get("/api/v1/metrics/overview", headers={"X-API-Key": keys["owner"] + "x"}).status_code == 401
    ok = c.get("/api/v1/metrics/overview?start=2026-03-01&end=2026-03-31", headers={"X-API-Key": keys["analyst"]})
    assert ok.status_code == 200 and ok.json()["figures"]["gmv_cents"] == 18000


def test_roles_get_what_they_may_and_403_for_what_they_may_not(world):
    settings, _, keys = world
    c = client(settings)
    auditor = {"X-API-Key": keys["auditor"]}
    assert c.get("/api/v1/metrics/retention", headers=auditor).status_code == 200, "aggregates are for every role"
    refused = c.get("/api/v1/persons/P1", headers=auditor)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    assert "read.persons" in refused.json()["error"]["message"]
    assert c.get("/api/v1/persons?limit=5", headers=auditor).status_code == 403
    assert c.get("/api/v1/persons/P1", headers={"X-API-Key": keys["analyst"]}).status_code == 200


def test_person_values_are_masked_for_the_role_in_api_and_page_alike(world):
    settings, _, keys = world
    c = client(settings)
    owner = c.get("/api/v1/persons/P1", headers={"X-API-Key": keys["owner"]}).json()
    analyst = c.get("/api/v1/persons/P1", headers={"X-API-Key": keys["analyst"]}).json()
    owner_keys = {a["account_key"] for a in owner["accounts"]}
    analyst_keys = {a["account_key"] for a in analyst["accounts"]}
    assert owner_keys == {"a1", "j1", "w1"}, "the owner sees account keys (L4) in clear"
    assert not owner_keys & analyst_keys and all(k.endswith("***") for k in analyst_keys), analyst_keys
    assert "accounts.account_key" in analyst["disclosure"]["masked"]
    login(c, keys["analyst"])
    html = c.get("/persons/P1").text
    for k in owner_keys:
        assert f">{k}<" not in html
    for k in analyst_keys:
        assert k in html, "the page shows the same masked values as the API"


def test_unknown_persons_segments_and_paths_are_404_never_500(world):
    settings, _, keys = world
    c = client(settings)
    h = {"X-API-Key": keys["owner"]}
    assert c.get("/api/v1/persons/nobody", headers=h).json()["error"]["code"] == "not_found"
    assert c.get("/api/v1/segments/none/members", headers=h).status_code == 404
    assert c.get("/api/v1/nothing-here", headers=h).json()["error"]["code"] == "not_found"
    assert c.get("/api/v1/persons?limit=101", headers=h).json()["error"]["code"] == "bad_request"
    assert c.get("/api/v1/persons?cursor=%%%", headers=h).status_code == 400
    bad = c.get("/api/v1/metrics/funnel?step=Product%20Viewed&step=Nope", headers=h)
    assert bad.status_code == 400 and "no track event named 'Nope'" in bad.json()["error"]["message"]
    assert c.get("/api/v1/metrics/overview?start=2026-13-01", headers=h).status_code == 400


def test_members_paginate_with_a_cursor_without_gaps_or_repeats(world):
    settings, _, keys = world
    c = client(settings)
    h = {"X-API-Key": keys["analyst"]}
    seen, cursor = [], None
    while True:
        page = c.get("/api/v1/persons", params={"limit": 2} | ({"cursor": cursor} if cursor else {}), headers=h).json()
        seen += [p["person_id"] for p in page["items"]]
        if not page["has_more"]:
            assert page["next_cursor"] is None
            break
        cursor = page["next_cursor"]
    assert seen == sorted(seen) == ["P1", "P2", "P3", "P4", "P5", "P6"]


def test_revoking_a_key_ends_its_api_access_and_its_sessions(world):
    settings, registry, keys = world
    c = client(settings)
    login(c, keys["analyst"])
    assert c.get("/retention").status_code == 200
    registry.revoke("k-analyst", "tests")
    r = c.get("/retention", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    assert c.get("/api/v1/segments", headers={"X-API-Key": keys["analyst"]}).status_code == 401
    assert c.get("/api/v1/segments", headers={"X-API-Key": keys["owner"]}).status_code == 200, "other keys still work"


def test_rate_limit_refuses_with_retry_after_and_lets_through_within_the_budget(world):
    settings, _, keys = world
    c = client(settings, rate=0.25, burst=3)  # a token every 4 s: a slow machine cannot refill mid-burst
    h = {"X-API-Key": keys["analyst"]}
    codes = [c.get("/api/v1/segments", headers=h).status_code for _ in range(3)]
    assert codes == [200, 200, 200], "a burst within the budget passes"
    r = c.get("/api/v1/segments", headers=h)
    assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limited"
    assert int(r.headers["retry-after"]) >= 1
    assert c.get("/api/v1/segments", headers={"X-API-Key": keys["owner"]}).status_code == 200, "limits are per key"
    time.sleep(float(r.headers["retry-after"]))
    assert c.get("/api/v1/segments", headers=h).status_code == 200, "after Retry-After the key may go on"


def test_login_sets_a_strict_httponly_cookie_and_refuses_bad_keys_and_forged_forms(world):
    settings, _, keys = world
    c = client(settings)
    assert c.get("/", follow_redirects=False).headers["location"] == "/login?next=/"
    assert 'name="key"' in c.get("/login").text
    forged = c.post("/login", content=f"key={keys['owner']}&csrf=forged", headers=FORM, follow_redirects=False)
    assert forged.status_code == 403 and "fw_session" not in forged.headers.get("set-cookie", "")
    token = re.search(r'name="csrf" value="([^"]+)"', forged.text).group(1)
    bad = c.post("/login", content=f"key=fwk_wrong_key&csrf={token}", headers=FORM, follow_redirects=False)
    assert bad.status_code == 401 and "unknown or revoked" in bad.text
    token = re.search(r'name="csrf" value="([^"]+)"', bad.text).group(1)
    good = c.post("/login", content=f"key={keys['owner']}&csrf={token}&next=//evil.example/x", headers=FORM,
                  follow_redirects=False)
    assert good.status_code == 303 and good.headers["location"] == "/", "no open redirect"
    cookie = good.headers["set-cookie"]
    assert "fw_session=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie


def test_a_session_write_needs_its_csrf_token(world):
    settings, _, keys = world
    c = client(settings)
    csrf = login(c, keys["owner"])
    refused = c.post("/logout", content="", headers=FORM, follow_redirects=False)
    assert refused.status_code == 403
    assert c.post("/logout", content="csrf=wrong", headers=FORM, follow_redirects=False).status_code == 403
    assert c.get("/retention").status_code == 200, "still logged in"
    done = c.post("/logout", content=f"csrf={csrf}", headers=FORM, follow_redirects=False)
    assert done.status_code == 303
    assert c.get("/retention", follow_redirects=False).status_code == 303, "logged out"


def test_language_from_the_query_a_cookie_or_the_browser(world):
    settings, _, keys = world
    c = client(settings)
    login(c, keys["owner"])
    assert "经营概览" in c.get("/", headers={"Accept-Language": "zh-CN,zh;q=0.9"}).text
    en = c.get("/", headers={"Accept-Language": "en-US"}).text
    assert "Overview" in en and "经营概览" not in en
    zh = c.get("/?lang=zh")
    assert "复购率" in zh.text and "fw_lang=zh" in zh.headers["set-cookie"]
    assert "同期群" in c.get("/retention").text, "the choice is remembered"
    assert "Repeat-purchase rate" in c.get("/?lang=en").text


def test_every_message_has_a_chinese_translation():
    from flywheel.console.messages import missing

    assert missing() == []


def test_pages_say_to_build_rollups_before_there_are_any(warehouse):
    settings = load_settings()
    key = ApiKeys(keys_path(settings.db_path)).create("analyst", None, "tests")[0]
    warehouse.close()
    c = client(settings)
    login(c, key)
    assert "flywheel insight build" in c.get("/").text


def test_the_builder_counts_live_and_saves_only_for_roles_that_may_apply(world):
    settings, _, keys = world
    c = client(settings)
    definition = ("name: viewers\ndescription: viewed a product\nrule:\n  performed:\n"
                  "    event: Product Viewed\n    within_days: 3650\n")
    csrf = login(c, keys["analyst"])
    count = c.post("/segments/preview", content="definition=" + quote(definition), headers=FORM | {"x-csrf-token": csrf})
    assert count.status_code == 200 and "5 persons match now" in count.text, count.text
    bad = c.post("/segments/preview", content="definition=" + quote(definition.replace("Product Viewed", "Nope")),
                 headers=FORM | {"x-csrf-token": csrf})
    assert 'class="error"' in bad.text and "Nope" in bad.text, bad.text
    refused = c.post("/segments", content=f"csrf={csrf}&definition=" + quote(definition), headers=FORM,
                     follow_redirects=False)
    assert refused.status_code == 403, "an analyst may count but not save"
    c2 = client(settings)
    csrf = login(c2, keys["owner"])
    saved = c2.post("/segments", content=f"csrf={csrf}&definition=" + quote(definition), headers=FORM,
                    follow_redirects=False)
    assert saved.status_code == 303 and saved.headers["location"] == "/segments/viewers"
    members = c2.get("/api/v1/segments/viewers/members", headers={"X-API-Key": keys["owner"]}).json()
    assert {m["person_id"] for m in members["items"]} == {"P1", "P3", "P4", "P5", "P6"}


def test_the_funnel_offers_a_segment_of_those_who_dropped(world):
    settings, _, keys = world
    c = client(settings)
    login(c, keys["analyst"])
    page = c.get("/funnel?step=Product+Viewed&step=Product+Added&start=2026-03-01&end=2026-03-31").text
    link = re.search(r'href="(/segments/new\?definition=[^"]+)"', page)
    assert link, "a drop-off link for step 2"
    builder = c.get(link.group(1).replace("&amp;", "&")).text
    assert "dropped_after_product_viewed" in builder and "not_performed" in builder


def test_unmasked_reads_are_audited_for_the_owner_and_not_for_the_analyst(world):
    from flywheel.privacy import Gate, audit_entries
    from flywheel.privacy.roles import Actor, role_named

    settings, _, keys = world
    c = client(settings)
    assert c.get("/api/v1/persons/P2", headers={"X-API-Key": keys["analyst"]}).status_code == 200
    with Gate.open(settings, None, "test", actor=Actor("t", role_named("auditor"))) as gate:
        assert [e for e in audit_entries(gate, "read.unmasked") if e["actor"] == "key:k-analyst"] == []
    assert c.get("/api/v1/persons/P2", headers={"X-API-Key": keys["owner"]}).status_code == 200
    with Gate.open(settings, None, "test", actor=Actor("t", role_named("auditor"))) as gate:
        entries = [e for e in audit_entries(gate, "read.unmasked") if e["actor"] == "key:k-owner"]
    assert len(entries) == 1 and entries[0]["role"] == "owner"
    assert "accounts.account_key" in entries[0]["detail"]["fields"]


def test_a_csv_export_is_masked_like_the_api_and_refused_to_the_auditor(world):
    settings, _, keys = world
    definition = "name: buyers\ndescription: b\nrule:\n  ordered:\n    within_days: 3650\n"
    c = client(settings)
    csrf = login(c, keys["owner"])
    assert c.post("/segments", content=f"csrf={csrf}&definition=" + quote(definition), headers=FORM,
                  follow_redirects=False).status_code == 303
    csv = c.get("/api/v1/segments/buyers/members.csv", headers={"X-API-Key": keys["analyst"]})
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    lines = csv.text.strip().splitlines()
    assert lines[0].replace('"', "") == "person_id,entered_at,tier,rfm_segment,clv,churn_probability"
    assert {line.split(",")[0].strip('"') for line in lines[1:]} == {"P1", "P2"}
    assert c.get("/api/v1/segments/buyers/members.csv", headers={"X-API-Key": keys["auditor"]}).status_code == 403
