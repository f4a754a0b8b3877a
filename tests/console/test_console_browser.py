"""The console in a real browser: Debian's Chromium driven by Playwright (never a downloaded build).

Every page in both languages renders its charts (`<body data-charts-ready>`) with no console error
and no request leaving 127.0.0.1; the analyst's session never receives a person's raw phone, which
the owner's does; filters swap the page through HTMX. With FLYWHEEL_SCREENSHOTS=DIR the pages are
saved there (docs/img holds the ones docs/dashboard.md shows).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("console")]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PAGES = ["/", "/retention", "/funnel", "/value", "/segments", "/journeys", "/channels", "/loyalty", "/data"]
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        message = ("Chromium is not installed (apt-get install -y chromium fonts-noto-cjk); "
                   "the console's browser tests cannot run")
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


class Session:
    """A logged-in browser context that records console errors, outside requests and every body."""

    def __init__(self, browser, base: str, key: str, lang: str = "en"):
        self.base = base
        self.context = browser.new_context(viewport={"width": 1360, "height": 900},
                                           locale="zh-CN" if lang == "zh" else "en-US")
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.outside: list[str] = []
        self.bodies: list[bytes] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: None if r.url.startswith(("http://127.0.0.1:", "data:"))
                     else self.outside.append(r.url))
        self.page.on("response", self._keep)
        self.page.goto(base + "/login")
        self.page.fill("input[name=key]", key)
        self.page.click("button[type=submit]")
        self.page.wait_for_url(base + "/")

    def _keep(self, response) -> None:
        try:
            if not response.url.endswith(".js"):
                self.bodies.append(response.body())
        except Exception:  # noqa: BLE001 - redirects have no body
            pass

    def visit(self, path: str) -> None:
        self.page.goto(self.base + path)
        self.page.wait_for_selector("body[data-charts-ready]", timeout=20_000)

    def close(self) -> None:
        self.context.close()


def _shot(page, name: str) -> None:
    folder = os.environ.get("FLYWHEEL_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_page_renders_its_charts_offline_without_errors(browser, console_server, demo_world, lang):
    s = Session(browser, console_server, demo_world.keys["owner"], lang)
    try:
        for path in PAGES + [f"/persons/{demo_world.phone_person}"]:
            s.visit(path + f"?lang={lang}")
            assert s.page.locator("html").get_attribute("lang") == ("zh-CN" if lang == "zh" else "en")
            name = "person" if path.startswith("/persons/") else (path.strip("/") or "overview")
            _shot(s.page, f"{name}-{lang}")
        assert s.errors == [], s.errors
        assert s.outside == [], s.outside
        s.visit(f"/?lang={lang}")
        nav = s.page.locator("header nav").inner_text()
        assert ("经营概览" in nav and "留存" in nav) if lang == "zh" else ("Overview" in nav and "Retention" in nav)
        assert s.page.locator("[data-chart] canvas").count() >= 2, "the overview draws its charts"
    finally:
        s.close()


def test_the_analyst_never_receives_a_raw_phone_the_owner_sees(browser, console_server, demo_world):
    phone = demo_world.phone
    national = phone[-11:]
    person = f"/persons/{demo_world.phone_person}"
    owner = Session(browser, console_server, demo_world.keys["owner"])
    try:
        owner.visit(person)
        assert phone in owner.page.content(), "the owner (L4) sees the contact point in clear"
    finally:
        owner.close()
    analyst = Session(browser, console_server, demo_world.keys["analyst"])
    try:
        for path in PAGES + [person]:
            analyst.visit(path)
        html = analyst.page.content()
        assert "*" in analyst.page.locator(".contact").first.inner_text(), "a masked form is shown"
        captured = b"".join(analyst.bodies)
        assert phone.encode() not in captured and national.encode() not in captured
        api = analyst.page.request.get(console_server + f"/api/v1/persons/{demo_world.phone_person}",
                                       headers={"X-API-Key": demo_world.keys["analyst"]}).json()
        shown = [c["value_masked"] for c in api["contact_points"] if c.get("value_masked")]
        for masked in shown:
            assert masked in html, "the API returns the same masked values the page shows"
        assert all(c.get("value") is None or "*" in c["value"] for c in api["contact_points"]), api["contact_points"]
        assert "contact_points.value" in api["disclosure"]["masked"]
    finally:
        analyst.close()


def test_the_auditor_gets_aggregates_and_a_refusal_for_persons(browser, console_server, demo_world):
    s = Session(browser, console_server, demo_world.keys["auditor"])
    try:
        s.visit("/retention")
        s.page.goto(console_server + f"/persons/{demo_world.phone_person}")
        assert "read.persons" in s.page.content()
        assert demo_world.phone not in s.page.content()
    finally:
        s.close()


def test_filters_swap_the_page_through_htmx_and_redraw(browser, console_server, demo_world):
    s = Session(browser, console_server, demo_world.keys["analyst"])
    try:
        s.visit("/")
        before = s.page.locator(".card .value").first.inner_text()
        box = s.page.locator("input[name=source]").first
        box.check()
        with s.page.expect_response(lambda r: "source=" in r.url and r.request.headers.get("hx-request") == "true"):
            s.page.click(".filters button[type=submit]")
        s.page.wait_for_selector("body[data-charts-ready]", timeout=20_000)
        assert "source=" in s.page.url, "the filter is in the address bar"
        assert s.page.locator("input[name=source]:checked").count() == 1
        after = s.page.locator(".card .value").first.inner_text()
        assert before != after or box.get_attribute("value") in ("community", "web", "miniprogram")
        assert s.errors == []
    finally:
        s.close()


def test_a_write_without_the_csrf_token_is_refused_in_the_browser(browser, console_server, demo_world):
    s = Session(browser, console_server, demo_world.keys["owner"])
    try:
        s.visit("/journeys")
        status = s.page.evaluate("fetch('/logout', {method: 'POST'}).then(r => r.status)")
        assert status == 403
        s.visit("/journeys")
        assert s.page.locator("header .role").count() == 1, "still logged in"
    finally:
        s.close()
