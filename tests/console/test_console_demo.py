"""The console over the demo merchant without a browser: journey pause and resume for the roles that
may, and every page's numbers agreeing with the API's."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from flywheel.console import create_console

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("console")]

FORM = {"content-type": "application/x-www-form-urlencoded"}


def _login(c: TestClient, key: str) -> str:
    token = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text).group(1)
    c.post("/login", content=f"key={key}&csrf={token}", headers=FORM)
    return re.search(r'<meta name="csrf-token" content="([^"]+)"', c.get("/journeys").text).group(1)


def _status(c: TestClient, key: str, name: str) -> str:
    journeys = c.get("/api/v1/journeys", headers={"X-API-Key": key}).json()["journeys"]
    return next(j["status"] for j in journeys if j["name"] == name)


def test_journeys_pause_and_resume_for_roles_that_may(demo_world):
    c = TestClient(create_console(demo_world.settings))
    owner = demo_world.keys["owner"]
    name = c.get("/api/v1/journeys", headers={"X-API-Key": owner}).json()["journeys"][0]["name"]
    analyst = TestClient(create_console(demo_world.settings))
    csrf = _login(analyst, demo_world.keys["analyst"])
    assert "Pause" not in analyst.get("/journeys").text, "no button for a role that may not"
    refused = analyst.post(f"/journeys/{name}/pause", content=f"csrf={csrf}", headers=FORM, follow_redirects=False)
    assert refused.status_code == 403 and _status(c, owner, name) == "active"
    csrf = _login(c, owner)
    assert c.post(f"/journeys/{name}/pause", content=f"csrf={csrf}", headers=FORM,
                  follow_redirects=False).status_code == 303
    assert _status(c, owner, name) == "paused"
    assert "Resume" in c.get("/journeys").text
    assert c.post(f"/journeys/{name}/resume", content=f"csrf={csrf}", headers=FORM,
                  follow_redirects=False).status_code == 303
    assert _status(c, owner, name) == "active"


def test_overview_page_shows_the_apis_figures(demo_world):
    c = TestClient(create_console(demo_world.settings))
    key = demo_world.keys["analyst"]
    _login(c, key)
    html = c.get("/?lang=en").text
    start = re.search(r'name="start" value="([^"]*)"', html).group(1)
    end = re.search(r'name="end" value="([^"]*)"', html).group(1)
    f = c.get("/api/v1/metrics/overview", params={"start": start, "end": end}, headers={"X-API-Key": key}).json()
    figures = f["figures"]
    assert f"{figures['orders']:,}" in html and f"{figures['buyers']:,}" in html
    assert f"¥{round(figures['gmv_cents'] / 100):,}" in html


def test_the_loyalty_view_agrees_with_the_ledger_and_shows_no_person_ids(demo_world):
    from flywheel.loyalty import Ledger, journal_path, verify

    c = TestClient(create_console(demo_world.settings))
    data = c.get("/api/v1/loyalty", headers={"X-API-Key": demo_world.keys["auditor"]}).json()
    assert sum(data["members_per_level"].values()) == data["points"]["members"] > 0
    with Ledger(journal_path(demo_world.settings)) as book:
        assert verify(book.con)["ok"]
        outstanding = book.con.execute("SELECT SUM(available) + SUM(pending) FROM balances").fetchone()[0]
    assert data["points"]["outstanding"] == outstanding
    assert data["referral"]["generations"][0]["generation"] == 0 and data["referral"]["acceptances"] > 0
    _login(c, demo_world.keys["auditor"])
    for lang, word in (("en", "Members per level"), ("zh", "各等级会员数")):
        page = c.get(f"/loyalty?lang={lang}").text
        assert word in page and f"{outstanding:,}" in page.replace("\u202f", ",").replace("\xa0", ",")
    with Ledger(journal_path(demo_world.settings)) as book:
        persons = [p for (p,) in book.con.execute("SELECT person FROM balances")]
    assert not [p for p in persons if p in page]
