"""The console: server-rendered pages (Jinja2 + HTMX + ECharts, all served from this package) and the
read API under /api/v1, behind one authentication dependency and one disclosure gate.

    app = create_console(settings)      # a FastAPI app; `flywheel serve` mounts it at /

A page and its API resource call the same view function (`views.py`) with the caller's `Gate`, so
what an analyst's browser shows and what their key reads from the API are the same masked values.
Every refusal is `{"error": {"code", "message"}}` on the API; pages show it, or send an anonymous
browser to /login.
"""


import atexit
import contextlib
import logging
import secrets
import threading
import time
import weakref
from importlib import resources
from typing import Annotated
from urllib.parse import parse_qs, quote, urlencode

import orjson
from fastapi import Depends, FastAPI, Query, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.security import APIKeyHeader
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, PackageLoader, select_autoescape
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from flywheel.config import Settings
from flywheel.console import charts, views
from flywheel.console.auth import (
    CSRF_HEADER,
    LOGIN_COOKIE,
    SESSION_COOKIE,
    ApiError,
    ConsoleAuth,
    Principal,
    RateLimiter,
    same_token,
)
from flywheel.console.i18n import COOKIE as LANG_COOKIE
from flywheel.console.i18n import Formats, pick_language, translations
from flywheel.console.keys import ApiKeys, keys_path
from flywheel.errors import FlywheelError, InputError
from flywheel.insight.calendar import Period
from flywheel.privacy.roles import NotPermitted

log = logging.getLogger(__name__)

NAV = [("/", "Overview"), ("/retention", "Retention"), ("/funnel", "Funnel"), ("/value", "Value"),
       ("/segments", "Segments"), ("/journeys", "Journeys"), ("/channels", "Channels"), ("/loyalty", "Loyalty"),
       ("/data", "Data & privacy")]
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                               "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; "
                               "form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
}
ERROR_STATUS = {400: "bad_request", 401: "unauthenticated", 403: "forbidden", 404: "not_found",
                405: "method_not_allowed", 409: "conflict", 429: "rate_limited", 503: "unavailable"}


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorEnvelope(BaseModel):
    """Every refusal of the read API."""
    error: ErrorBody


def _refusals(*statuses: int) -> dict:
    return {s: {"model": ErrorEnvelope, "description": ERROR_STATUS.get(s, "error")} for s in statuses}


READ = _refusals(400, 401, 403, 429, 503)
"""What any read may answer besides 200: bad input, no key, a role without the right, too fast, no warehouse."""
ONE = _refusals(400, 401, 403, 404, 429, 503)
Day = Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}-\d{2}$", description="a day, YYYY-MM-DD, merchant calendar")]
API_KEY = APIKeyHeader(name="X-API-Key", auto_error=False, description="a key from `flywheel keys create`")


def _json(data, status: int = 200, headers: dict | None = None) -> Response:
    body = orjson.dumps(data, default=str, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def _environment(lang: str) -> Environment:
    env = Environment(loader=PackageLoader("flywheel.console", "templates"), autoescape=select_autoescape(),
                      extensions=["jinja2.ext.i18n"], trim_blocks=True, lstrip_blocks=True)
    env.install_gettext_translations(translations(lang), newstyle=True)
    return env


def create_console(settings: Settings, rate: float = 20.0, burst: int = 60) -> FastAPI:
    """The console app over `settings.db_path`; keys come from `<warehouse>.keys.json`."""
    auth = ConsoleAuth(ApiKeys(keys_path(settings.db_path)), RateLimiter(rate=rate, burst=burst))
    envs = {lang: _environment(lang) for lang in ("zh", "en")}
    app = FastAPI(title="Flywheel read API", version="1", openapi_url="/api/v1/openapi.json",
                  docs_url="/api/v1/docs", redoc_url=None,
                  description="Read access to the merchant's metrics, segments, persons, journeys and channels. "
                              "Authenticate with an `X-API-Key` header (`flywheel keys create --role ROLE`). "
                              "Person-level values are masked for the key's role. Errors are "
                              "`{\"error\": {\"code\", \"message\"}}`.")
    app.state.auth = auth
    anchor = app.state.anchor = Anchor(settings)
    static = resources.files("flywheel.console").joinpath("static")
    app.mount("/static", StaticFiles(directory=str(static)), name="static")

    @app.middleware("http")
    async def headers(request: Request, call_next):
        response = await call_next(request)
        for k, v in SECURITY_HEADERS.items():
            response.headers.setdefault(k, v)
        if not request.url.path.startswith("/static/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    def is_api(request: Request) -> bool:
        return request.url.path.startswith("/api/")

    def refuse(request: Request, e: ApiError) -> Response:
        if is_api(request):
            return _json(e.body(), e.status, e.headers)
        if e.status == 401:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?next={quote(target)}", status_code=303)
        lang = language(request)
        page = envs[lang].get_template("error.html").render(
            **chrome(request, None, lang), error=e, title=str(e.status))
        return HTMLResponse(page, status_code=e.status, headers=e.headers)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, e: ApiError) -> Response:
        return refuse(request, e)

    @app.exception_handler(NotPermitted)
    async def not_permitted(request: Request, e: NotPermitted) -> Response:
        return refuse(request, ApiError(403, "forbidden", str(e).split(";")[0]))

    @app.exception_handler(InputError)
    async def bad_input(request: Request, e: InputError) -> Response:
        return refuse(request, ApiError(400, "bad_request", str(e)))

    @app.exception_handler(FlywheelError)
    async def unavailable(request: Request, e: FlywheelError) -> Response:
        return refuse(request, ApiError(503, "unavailable", str(e)))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, e: RequestValidationError) -> Response:
        first = e.errors()[0] if e.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("query", "path", "body"))
        return refuse(request, ApiError(400, "bad_request", f"{where or 'request'}: {first.get('msg', 'invalid')}"))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, e: HTTPException) -> Response:
        code = ERROR_STATUS.get(e.status_code, "error")
        return refuse(request, ApiError(e.status_code, code, str(e.detail), dict(e.headers or {})))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, e: Exception) -> Response:
        log.exception("console request failed: %s", request.url.path)
        return refuse(request, ApiError(500, "internal", "the server failed on this request; see its log"))

    # -- who is asking -------------------------------------------------------------------------------

    async def caller(request: Request, api_key: Annotated[str | None, Security(API_KEY)] = None) -> Principal:
        """The key behind the request; a browser's write must also carry its session's CSRF token
        (the X-CSRF-Token header HTMX sends, or a form's `csrf` field)."""
        principal = auth.principal(api_key, request.cookies.get(SESSION_COOKIE))
        if request.method not in ("GET", "HEAD") and principal.session is not None:
            token = request.headers.get(CSRF_HEADER)
            if token is None and request.headers.get("content-type", "").startswith(
                    "application/x-www-form-urlencoded"):
                token = (parse_qs((await request.body()).decode("utf-8", "replace")).get("csrf") or [None])[0]
            if not same_token(token, principal.csrf):
                raise ApiError(403, "csrf", "this form is stale or was not sent by the console; reload the page")
        return principal

    Caller = Annotated[Principal, Depends(caller)]

    @contextlib.contextmanager
    def gate_for(principal: Principal, command: str):
        """The caller's gate on the warehouse for one request (closing it audits unmasked L4+ reads)."""
        from flywheel.privacy import Gate

        if not settings.db_path.exists():
            raise ApiError(503, "unavailable", "no warehouse yet: run `flywheel demo` or `flywheel run` first")
        with anchor.connection() as wh:
            with Gate.open(settings, wh, f"console {command}", actor=principal.key.actor()) as gate:
                yield gate

    def language(request: Request) -> str:
        return pick_language(request.query_params.get("lang"), request.cookies.get(LANG_COOKIE),
                             request.headers.get("accept-language"))

    def chrome(request: Request, principal: Principal | None, lang: str) -> dict:
        def switch(to: str) -> str:
            params = dict(request.query_params) | {"lang": to}
            return request.url.path + "?" + urlencode(params)

        return {"lang": lang, "fmt": Formats(lang, settings.tz), "nav": NAV, "path": request.url.path,
                "principal": principal, "csrf": principal.csrf if principal else None,
                "lang_links": {"zh": switch("zh"), "en": switch("en")}}

    def page(request: Request, principal: Principal, template: str, **context) -> HTMLResponse:
        lang = language(request)
        env = envs[lang]
        tpl = env.get_template(template)
        ctx = chrome(request, principal, lang) | context
        if request.headers.get("hx-request") and request.headers.get("hx-target") == "content":
            body = "".join(tpl.blocks["content"](tpl.new_context(ctx)))
        else:
            body = tpl.render(**ctx)
        response = HTMLResponse(body)
        if request.query_params.get("lang") in ("zh", "en"):
            response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="strict", httponly=True)
        return response

    def labels(lang: str) -> callable:
        return translations(lang).gettext

    # -- login ---------------------------------------------------------------------------------------

    @app.get("/login", include_in_schema=False)
    def login_form(request: Request, next: str = "/") -> HTMLResponse:
        token = secrets.token_urlsafe(24)
        lang = language(request)
        body = envs[lang].get_template("login.html").render(
            **chrome(request, None, lang), login_csrf=token, next=_safe_next(next), error=None)
        response = HTMLResponse(body)
        response.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="strict", max_age=3600, path="/login")
        return response

    @app.post("/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        key, token = (form.get("key") or [""])[0], (form.get("csrf") or [""])[0]
        target = _safe_next((form.get("next") or ["/"])[0])
        lang = language(request)
        if not same_token(token, request.cookies.get(LOGIN_COOKIE)):
            return _login_again(request, envs[lang], chrome(request, None, lang), target, "csrf", 403)
        try:
            session = auth.login(key, request.client.host if request.client else "?")
        except ApiError as e:
            return _login_again(request, envs[lang], chrome(request, None, lang), target, e.code, e.status,
                                e.headers)
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(SESSION_COOKIE, session.token, httponly=True, samesite="strict",
                            max_age=int(auth.sessions.seconds))
        response.delete_cookie(LOGIN_COOKIE, path="/login")
        return response

    @app.post("/logout", include_in_schema=False)
    async def logout(request: Request, principal: Caller) -> Response:
        auth.sessions.close(request.cookies.get(SESSION_COOKIE))
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE)
        return response

    # -- pages ---------------------------------------------------------------------------------------

    @app.get("/", include_in_schema=False)
    def overview_page(request: Request, principal: Caller, start: str | None = None, end: str | None = None,
                      source: Annotated[list[str], Query()] = []) -> HTMLResponse:
        lang = language(request)
        _ = labels(lang)
        with gate_for(principal, "overview") as gate:
            if views.rollups_ready(gate.warehouse) is None:
                return page(request, principal, "empty.html", title=_("Overview"))
            period = Period.parse(start, end) if (start or end) else _default_period(gate.warehouse)
            data = views.overview_view(gate, period, source)
        return page(request, principal, "overview.html", title=_("Overview"), data=data, period=period,
                    chosen=set(source),
                    chart_series=charts.overview_series(data["series"], _("GMV (¥)"), _("Orders")),
                    chart_sources=charts.by_source(data["by_source"], _("GMV by source")))

    @app.get("/retention", include_in_schema=False)
    def retention_page(request: Request, principal: Caller, grain: str = "month",
                       basis: str = "purchase") -> HTMLResponse:
        _ = labels(language(request))
        with gate_for(principal, "retention") as gate:
            if views.rollups_ready(gate.warehouse) is None:
                return page(request, principal, "empty.html", title=_("Retention"))
            data = views.retention_view(gate, grain, basis)
        unit = _("weeks after") if grain == "week" else _("months after")
        return page(request, principal, "retention.html", title=_("Retention"), data=data, grain=grain,
                    basis=basis, chart=charts.retention_heatmap(data, unit))

    @app.get("/funnel", include_in_schema=False)
    def funnel_page(request: Request, principal: Caller, step: Annotated[list[str], Query()] = [],
                    start: str | None = None, end: str | None = None, window_days: float = 14) -> HTMLResponse:
        _ = labels(language(request))
        with gate_for(principal, "funnel") as gate:
            if views.rollups_ready(gate.warehouse) is None:
                return page(request, principal, "empty.html", title=_("Funnel"))
            period = Period.parse(start, end) if (start or end) else _default_period(gate.warehouse, 90)
            steps = [s for s in step if s] or None
            if steps is None:
                from flywheel.insight import funnel_events

                steps = views.default_steps(funnel_events(gate.warehouse))
            data = views.funnel_view(gate, steps, period, window_days)
        result = data["funnel"]
        drops = {s["step"]: views.drop_segment(result["steps"], s["step"], window_days)
                 for s in (result["steps"] if result else []) if s["step"] > 1 and s["dropped"] > 0}
        return page(request, principal, "funnel.html", drops=drops, title=_("Funnel"), data=data, steps=steps, period=period,
                    window_days=window_days,
                    chart=charts.funnel_bars(result["steps"], _("Persons")) if result else None)

    @app.get("/segments", include_in_schema=False)
    def segments_page(request: Request, principal: Caller) -> HTMLResponse:
        _ = labels(language(request))
        with gate_for(principal, "segments") as gate:
            data = views.segments_view(gate)
        return page(request, principal, "segments.html", title=_("Segments"), data=data)

    @app.get("/segments/new", include_in_schema=False)
    def segment_builder(request: Request, principal: Caller, definition: str | None = None) -> HTMLResponse:
        _ = labels(language(request))
        may = "activate.apply" in principal.key.actor().role.may
        return page(request, principal, "builder.html", title=_("New segment"),
                    definition=definition or views.SEGMENT_TEMPLATE, may_save=may, error=None)

    @app.post("/segments/preview", include_in_schema=False)
    def segment_preview(request: Request, principal: Caller, body: Annotated[str, Depends(_form_field("definition"))]
                        ) -> HTMLResponse:
        lang = language(request)
        try:
            with gate_for(principal, "segment preview") as gate:
                result, error = views.segment_preview(gate, body), None
        except InputError as e:
            result, error = None, str(e)
        html = envs[lang].get_template("builder_count.html").render(
            **chrome(request, principal, lang), result=result, error=error)
        return HTMLResponse(html)

    @app.post("/segments", include_in_schema=False)
    def segment_create(request: Request, principal: Caller, body: Annotated[str, Depends(_form_field("definition"))]
                       ) -> Response:
        _ = labels(language(request))
        try:
            with gate_for(principal, "segment apply") as gate:
                name = views.segment_save(gate, body)
        except (InputError, NotPermitted) as e:
            response = page(request, principal, "builder.html", title=_("New segment"), definition=body,
                            may_save="activate.apply" in principal.key.actor().role.may, error=str(e).split(";")[0])
            response.status_code = 403 if isinstance(e, NotPermitted) else 400
            return response
        return RedirectResponse(f"/segments/{quote(name)}", status_code=303)

    @app.get("/segments/{name}/members.csv", include_in_schema=False)
    def segment_csv(principal: Caller, name: str) -> Response:
        return members_csv(principal, name)

    def members_csv(principal: Principal, name: str) -> Response:
        with gate_for(principal, f"segment {name} export") as gate:
            body = views.members_csv(gate, name)
        return Response(body, media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{quote(name)}-members.csv"'})

    @app.get("/segments/{name}", include_in_schema=False)
    def segment_page(request: Request, principal: Caller, name: str, cursor: str | None = None,
                     limit: int = 50) -> HTMLResponse:
        _ = labels(language(request))
        with gate_for(principal, f"segment {name}") as gate:
            data = views.members_view(gate, name, limit, cursor)
        template = "members_rows.html" if request.headers.get("hx-request") and cursor else "segment.html"
        return page(request, principal, template, title=f"{_('Segment')} {name}", data=data, name=name, limit=limit)

    @app.get("/journeys", include_in_schema=False)
    def journeys_page(request: Request, principal: Caller) -> HTMLResponse:
        lang = language(request)
        _ = labels(lang)
        with gate_for(principal, "journeys") as gate:
            data = views.journeys_view(gate)
        names = {"treatment": _("Treatment"), "holdout": _("Holdout"), "entered": _("Entered"), "sent": _("Sent"),
                 "converted": _("Converted")}
        for j in data["journeys"]:
            j["chart"] = charts.journey_groups(j["groups"], names)
        may = "activate.apply" in principal.key.actor().role.may
        return page(request, principal, "journeys.html", title=_("Journeys"), data=data, may_change=may)

    @app.post("/journeys/{name}/{action}", include_in_schema=False)
    def journey_change(request: Request, principal: Caller, name: str, action: str) -> Response:
        if action not in ("pause", "resume"):
            raise ApiError(404, "not_found", f"no journey action {action!r}")
        with gate_for(principal, f"journey {action}") as gate:
            views.set_journey_status(gate, name, "paused" if action == "pause" else "active")
        return RedirectResponse("/journeys", status_code=303)

    @app.get("/channels", include_in_schema=False)
    def channels_page(request: Request, principal: Caller, model: str = "markov") -> HTMLResponse:
        _ = labels(language(request))
        with gate_for(principal, "channels") as gate:
            data = views.channels_view(gate, model)
        chart = charts.credits_by_model(data["credits"], data["models"]) if data["credits"] else None
        return page(request, principal, "channels.html", title=_("Channels"), data=data, chart=chart)

    @app.get("/value", include_in_schema=False)
    def value_page(request: Request, principal: Caller) -> HTMLResponse:
        _ = labels(language(request))
        with gate_for(principal, "value") as gate:
            data = views.value_view(gate)
        drawn = {}
        if data.get("run_id"):
            s = data["summary"]
            drawn = {"tiers": charts.tier_shares(s.get("tiers") or [], s.get("persons") or 0, _("Persons"), _("GMV")),
                     "clv": charts.clv_bands(data["clv_bands"], _("Buyers")),
                     "alive": charts.alive_heatmap(data["alive"], _("days since the last purchase"),
                                                   _("purchase days")),
                     "concentration": charts.concentration(s.get("concentration") or [], _("GMV share"))}
        return page(request, principal, "value.html", title=_("Value"), data=data, charts=drawn)

    @app.get("/loyalty", include_in_schema=False)
    def loyalty_page(request: Request, principal: Caller) -> HTMLResponse:
        _ = labels(language(request))
        with gate_for(principal, "loyalty") as gate:
            data = views.loyalty_view(gate)
        drawn = {}
        if data["members_per_level"]:
            drawn["levels"] = charts.level_members(data["members_per_level"], _("Members"))
        if data["referral"]:
            drawn["generations"] = charts.generations_k(data["referral"]["generations"], _("Members"), "K")
            if data["referral"]["top_tree"]:
                drawn["tree"] = charts.referral_tree(data["referral"]["top_tree"]["edges"])
        return page(request, principal, "loyalty.html", title=_("Loyalty"), data=data, charts=drawn)

    @app.get("/data", include_in_schema=False)
    def data_page(request: Request, principal: Caller) -> HTMLResponse:
        _ = labels(language(request))
        with gate_for(principal, "data") as gate:
            if views.rollups_ready(gate.warehouse) is None:
                return page(request, principal, "empty.html", title=_("Data & privacy"))
            data = views.data_view(gate)
        return page(request, principal, "data.html", title=_("Data & privacy"), data=data)

    @app.get("/persons/{person_id}", include_in_schema=False)
    def person_page(request: Request, principal: Caller, person_id: str) -> HTMLResponse:
        _ = labels(language(request))
        with gate_for(principal, "person") as gate:
            data = views.person_view(gate, person_id)
        return page(request, principal, "person.html", title=_("Person"), data=data)

    # -- read API ------------------------------------------------------------------------------------

    @app.get("/api/v1/persons/{person_id}", tags=["persons"], summary="One person, masked for the key's role",
             responses=ONE)
    def api_person(principal: Caller, person_id: str) -> Response:
        with gate_for(principal, "api persons") as gate:
            return _json(views.person_view(gate, person_id))

    @app.get("/api/v1/persons", tags=["persons"], summary="Persons (of a segment), cursor-paginated",
             responses=ONE)
    def api_persons(principal: Caller, segment: str | None = None,
                    limit: Annotated[int, Query(ge=1, le=100)] = 50, cursor: str | None = None) -> Response:
        with gate_for(principal, "api persons") as gate:
            return _json(views.members_view(gate, segment, limit, cursor))

    @app.get("/api/v1/segments", tags=["segments"], summary="Segments with size and last refresh",
             responses=READ)
    def api_segments(principal: Caller) -> Response:
        with gate_for(principal, "api segments") as gate:
            return _json(views.segments_view(gate))

    @app.get("/api/v1/segments/{name}/members", tags=["segments"], summary="Members of a segment, cursor-paginated",
             responses=ONE)
    def api_members(principal: Caller, name: str, limit: Annotated[int, Query(ge=1, le=100)] = 50,
                    cursor: str | None = None) -> Response:
        with gate_for(principal, "api segment members") as gate:
            return _json(views.members_view(gate, name, limit, cursor))

    @app.get("/api/v1/segments/{name}/members.csv", tags=["segments"],
             summary="All members of a segment as CSV (up to 100,000), masked for the key's role",
             responses=ONE | {200: {"content": {"text/csv": {"schema": {"type": "string"}}},
                                    "description": "person_id, entered_at, tier, rfm_segment, clv, churn_probability"}})
    def api_members_csv(principal: Caller, name: str) -> Response:
        return members_csv(principal, name)

    @app.get("/api/v1/metrics/overview", tags=["metrics"], summary="GMV, orders, buyers, AOV, repeat rate, …",
             responses=READ)
    def api_overview(principal: Caller, start: Day = None, end: Day = None,
                     source: Annotated[list[str], Query()] = []) -> Response:
        with gate_for(principal, "api overview") as gate:
            return _json(views.overview_view(gate, Period.parse(start, end), source))

    @app.get("/api/v1/metrics/retention", tags=["metrics"], summary="Cohort retention by week or month",
             responses=READ)
    def api_retention(principal: Caller, grain: str = "month", basis: str = "purchase") -> Response:
        with gate_for(principal, "api retention") as gate:
            return _json(views.retention_view(gate, grain, basis))

    @app.get("/api/v1/metrics/funnel", tags=["metrics"], summary="An ordered funnel over track events",
             responses=READ)
    def api_funnel(principal: Caller, step: Annotated[list[str], Query()] = [], start: Day = None, end: Day = None,
                   window_days: Annotated[float, Query(gt=0, le=365)] = 14) -> Response:
        with gate_for(principal, "api funnel") as gate:
            if not step:
                raise ApiError(400, "bad_request", "step: give 2 to 8 event names (step=A&step=B…)")
            return _json(views.funnel_view(gate, step, Period.parse(start, end), window_days))

    @app.get("/api/v1/metrics/value", tags=["metrics"], summary="Tiers, CLV bands, P(alive), concentration, alerts",
             responses=READ)
    def api_value(principal: Caller) -> Response:
        with gate_for(principal, "api value") as gate:
            return _json(views.value_view(gate))

    @app.get("/api/v1/data", tags=["data"], summary="Ingest runs, quarantine, consent coverage, erasures, audit",
             responses=READ)
    def api_data(principal: Caller) -> Response:
        with gate_for(principal, "api data") as gate:
            return _json(views.data_view(gate))

    @app.get("/api/v1/journeys", tags=["activation"], summary="Journeys: status, funnel by group, skips",
             responses=READ)
    def api_journeys(principal: Caller) -> Response:
        with gate_for(principal, "api journeys") as gate:
            return _json(views.journeys_view(gate))

    @app.get("/api/v1/loyalty", tags=["loyalty"], summary="Members per level, points liability, K per generation",
             responses=READ)
    def api_loyalty(principal: Caller) -> Response:
        with gate_for(principal, "api loyalty") as gate:
            return _json(views.loyalty_view(gate))

    @app.get("/api/v1/channels", tags=["measurement"], summary="Credits per model, economics, advisor, budget",
             responses=READ)
    def api_channels(principal: Caller, model: str = "markov") -> Response:
        with gate_for(principal, "api channels") as gate:
            return _json(views.channels_view(gate, model))

    return app


def _open(settings: Settings, wait: float = 10.0):
    """A connection for one request, waiting while the spool loader holds the warehouse."""
    from flywheel.server.loader import open_when_free

    return open_when_free(settings, wait, pause=0.02, migrate=False, cache_tables=True)


_ANCHORS: "weakref.WeakSet[Anchor]" = weakref.WeakSet()


@atexit.register
def _close_anchors() -> None:
    """Close held connections before the interpreter tears DuckDB down under a live timer thread
    (which aborts the process: `terminate called without an active exception`)."""
    for anchor in list(_ANCHORS):
        anchor.close()


class Anchor:
    """Keeps the warehouse open in this process while requests come, so each request's connection
    costs ~1 ms instead of opening the database file (~20–130 ms at a million persons).

    DuckDB lets one process at a time have the file, and the spool loader (another process) needs it
    between its cycles: the anchor lets go once no request is running and none came for `linger`
    seconds, or once it has been held `hold` seconds (so steady traffic cannot starve loading)."""

    def __init__(self, settings: Settings, linger: float = 1.0, hold: float = 5.0):
        self.settings, self.linger, self.hold = settings, linger, hold
        self._lock = threading.Lock()
        self._wh = None
        self._users = 0
        self._opened = self._last = 0.0
        self._timer: threading.Timer | None = None
        _ANCHORS.add(self)

    @contextlib.contextmanager
    def connection(self):
        with self._lock:
            if self._wh is not None and self._users == 0 and time.monotonic() - self._opened > self.hold:
                self._let_go()
            if self._wh is None and self.settings.engine == "duckdb":
                try:
                    self._wh = _open(self.settings)
                    self._opened = time.monotonic()
                except Exception:  # the request below opens on its own (and reports a failure itself)
                    self._wh = None
            self._users += 1
        try:
            wh = _open(self.settings)
            try:
                yield wh
            finally:
                wh.close()
        finally:
            with self._lock:
                self._users -= 1
                self._last = time.monotonic()
                if self._users == 0 and self._wh is not None:
                    self._schedule()

    def _schedule(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = threading.Timer(self.linger, self._idle)
        self._timer.daemon = True
        self._timer.start()

    def _idle(self) -> None:
        with self._lock:
            if self._users == 0 and time.monotonic() - self._last >= self.linger * 0.99:
                self._let_go()

    def _let_go(self) -> None:
        if self._wh is not None:
            self._wh.close()
            self._wh = None

    def close(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            self._let_go()


def _form_field(name: str):
    """A dependency reading one field of a urlencoded form (no multipart parser needed)."""
    async def read(request: Request) -> str:
        form = parse_qs((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)
        return (form.get(name) or [""])[0]

    return read


def _default_period(wh, days: int = 30) -> Period:
    from flywheel.insight.headline import default_period

    return default_period(wh, days)


def _safe_next(target: str) -> str:
    """Only a path on this site (no scheme, no //host): an open redirect would hand the session away."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _login_again(request, env, chrome: dict, target: str, code: str, status: int,
                 headers: dict | None = None) -> HTMLResponse:
    token = secrets.token_urlsafe(24)
    body = env.get_template("login.html").render(**chrome, login_csrf=token, next=target, error=code)
    response = HTMLResponse(body, status_code=status, headers=headers)
    response.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="strict", max_age=3600, path="/login")
    return response
