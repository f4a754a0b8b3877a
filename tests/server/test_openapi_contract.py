"""The collection API answers exactly what its OpenAPI document says.

The main test runs schemathesis (every check, pinned seed, bounded examples) against a real
`flywheel serve`: no 5xx, no undocumented status, no schema-valid request refused, no invalid one
accepted, every body as its schema says, 405 with `Allow` for other methods, 401 without the write
key. The smaller tests pin the pieces schemathesis only samples: the time and non-blank patterns the
document states against the server's own checks, and the error codes against the code that raises them.
"""

from __future__ import annotations

import ast
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from functools import cache
from pathlib import Path

import httpx
import jsonschema_rs
import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from live_server import free_port

from flywheel.server import app as app_module
from flywheel.server.openapi import CALL_STATUSES, ERRORS, ITEM_ERRORS, document
from flywheel.server.rules import SPACE, CollectError, Received, accept

SEED = 1
EXAMPLES = 10
"""Per operation and phase; with the coverage phase about 1,040 requests: some 20 s of CPU (schemathesis
12 s, the server and its loader 8 s)."""
SERVER = Path(app_module.__file__).parent
RECEIVED = Received(dt.datetime(2024, 5, 1, 12, tzinfo=dt.timezone.utc))


@cache
def validator(name: str):
    """A validator for one of the document's schemas, resolving its references within the document."""
    return jsonschema_rs.validator_for(document() | {"$ref": f"#/components/schemas/{name}"})


@pytest.fixture
def served(settings, write_key, tmp_path):
    """`flywheel serve` in its own process (as a merchant runs it), on a free port; after the test its
    terminal output holds no traceback and no warning of ours (uvicorn's notes on the malformed
    requests schemathesis sends are expected)."""
    port = free_port()
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "flywheel", "serve", "--port", str(port), "--load-interval", "1"],
                            env=os.environ.copy(), stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("flywheel serve did not start: " + (tmp_path / "serve.log").read_text()[-2000:])
        time.sleep(0.1)
    yield url
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()
    output = (tmp_path / "serve.log").read_text()
    assert "Traceback" not in output and "Warning:" not in output, output[-3000:]


@pytest.mark.slow
def test_schemathesis_finds_nothing_the_document_does_not_say(served, write_key, tmp_path):
    report = tmp_path / "schemathesis.json"
    command = [sys.executable, "-m", "schemathesis.cli", "run", f"{served}/openapi.json", "--checks", "all",
               "--seed", str(SEED), "--max-examples", str(EXAMPLES), "--generation-database", "none",
               "--auth", f"{write_key}:", "--request-timeout", "10", "--no-color",
               "--report", "json", "--report-json-path", str(report)]
    run = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert run.returncode == 0, run.stdout[-8000:] + run.stderr[-2000:]
    result = json.loads(report.read_text())
    assert result["complete"] and not result["failures"] and not result["errors"]
    assert result["operations"]["tested"] == sum(len(methods) for methods in document()["paths"].values())
    for operation, phases in result["valid_rates"].items():
        for phase in ("coverage", "fuzzing"):
            assert phases[phase]["accepted"] > 0, f"{operation}: no valid request in {phase}"

    deadline = time.monotonic() + 20  # what the edge accepted must load: none refused by the warehouse
    health = httpx.get(f"{served}/health").json()
    while health["loaded"] == 0 and time.monotonic() < deadline:
        time.sleep(0.2)
        health = httpx.get(f"{served}/health").json()
    assert health["loaded"] > 0 and health["load_failures"] == 0 and health["quarantined"] == 0, health


def test_the_served_document_is_the_documented_one_and_other_answers_use_the_error_body(live):
    assert httpx.get(f"{live.url}/openapi.json").json() == json.loads(json.dumps(document()))
    error = validator("Error")
    for method, path, status in (("GET", "/v1/track", 405), ("PUT", "/v1/batch", 405), ("POST", "/v1/nosuch", 404),
                                 ("GET", "/v1/nosuch", 404), ("POST", "/health", 405)):
        response = httpx.request(method, f"{live.url}{path}", auth=(live.write_key, ""))
        assert response.status_code == status, (method, path)
        assert error.is_valid(response.json()) and ERRORS[response.json()["error"]][0] == status, response.text
        if status == 405:
            assert response.headers["allow"] in ("POST", "GET")
    refused = httpx.get(f"{live.url}/api/v1/segments", headers={"X-API-Key": "fwk_unknown"})
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_key", \
        "every other path is the console's, with its own envelope"
    assert httpx.get(f"{live.url}/api/v1/nothing").json() == {"error": {"code": "not_found", "message": "Not Found"}}


def _raised_codes() -> set[tuple[int, str]]:
    """(status, code) of every `CollectError(status, "code", …)` written in the server's modules."""
    found = set()
    for path in SERVER.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "CollectError" and \
                    all(isinstance(a, ast.Constant) for a in node.args[:2]):
                found.add((node.args[0].value, node.args[1].value))
    return found


def test_every_error_code_the_server_raises_is_documented_with_its_status_and_none_is_invented():
    raised = _raised_codes() | {(503, "unavailable")} | {(s, c) for s, c in app_module.FASTAPI_ERRORS.items()}
    assert raised == {(status, code) for code, (status, _) in ERRORS.items()}
    assert set(ITEM_ERRORS) <= set(ERRORS)
    statuses = {ERRORS[c][0] for c in ERRORS} - {404, 405}
    assert statuses == set(CALL_STATUSES), "a status a call can answer is missing from its operations"
    for path, methods in document()["paths"].items():
        if path.startswith("/v1/"):
            assert set(methods["post"]["responses"]) == {"200", *map(str, CALL_STATUSES)}


def _server_accepts(message: dict, call: str = "track") -> bool:
    try:
        accept(call, json.loads(json.dumps(message)), 100, "web", RECEIVED)
        return True
    except CollectError:
        return False


TIMES = st.one_of(
    st.builds(lambda d, sep, spec: d.isoformat(sep=sep, timespec=spec),
              st.datetimes(min_value=dt.datetime(1890, 1, 1), max_value=dt.datetime(3010, 12, 31),
                           timezones=st.none() | st.timezones()),
              st.sampled_from("T "), st.sampled_from(["minutes", "seconds", "milliseconds", "microseconds"])),
    st.builds(lambda y, m, d, rest: f"{y}-{m}-{d}{rest}", st.integers(1890, 3010).map(str),
              st.integers(0, 13).map("{:02d}".format), st.integers(0, 32).map("{:02d}".format),
              st.sampled_from(["", "T12:00", " 23:59:59", "T24:00", "T12:60", "T12:00:00.1234567891", "Z",
                               "+08:00", "T12:00+0800", "T12:00+24:00", "T12:00-23:59", "T12:00:00z", "t12:00"])),
    st.text(alphabet="0123456789-T:.+Z ٢", max_size=30),
)


@hsettings(max_examples=400, deadline=None)
@given(TIMES, st.sampled_from(["timestamp", "originalTimestamp", "sentAt"]))
def test_the_documented_time_pattern_is_exactly_what_the_server_accepts(text, field):
    message = {"userId": "u", "event": "E", field: text}
    assert validator("Track").is_valid(message) == _server_accepts(message), text


@pytest.mark.parametrize("text, ok", [("1900-01-01", True), ("1899-12-31T23:59:59Z", False), ("2999-12-31", True),
                                      ("3000-01-01", False), ("2000-02-29", True), ("2100-02-29", False),
                                      ("2024-02-29T00:00Z", True), ("2023-02-29", False), ("2024-04-31", False),
                                      ("2024-05-01+08:00", False), ("2024-05-01T12:00:00.123456789+05:30", True),
                                      ("٢٠٢٤-05-01", False), ("0001-01-01T00:00:00Z", False)])
def test_times_at_the_edges_of_the_calendar(text, ok):
    message = {"userId": "u", "event": "E", "timestamp": text}
    assert _server_accepts(message) is ok and validator("Track").is_valid(message) is ok


@hsettings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(SPACE + "a\u200b\ufeff"), max_size=4) | st.integers() | st.booleans()
       | st.none() | st.floats(allow_nan=False, allow_infinity=False))
def test_the_documented_ids_and_event_names_are_exactly_what_the_server_accepts(value):
    for call, message in (("track", {"userId": value, "event": "E"}), ("track", {"anonymousId": "a", "userId": value}),
                          ("track", {"userId": "u", "event": value}), ("group", {"userId": "u", "groupId": value}),
                          ("alias", {"userId": "u", "previousId": value}), ("track", {"userId": "u", "event": "E",
                                                                                       "messageId": value})):
        if call == "track" and "event" not in message:
            message["event"] = "E"
        assert validator(call.capitalize()).is_valid(message) == _server_accepts(message, call), (call, message)


def test_a_batch_is_refused_whole_only_when_no_item_could_be_stored():
    batch = validator("Batch")
    good, bad = {"type": "track", "userId": "u", "event": "E"}, {"type": "track", "userId": "u"}
    for body, stored in (({"batch": []}, True), ({"batch": [bad, good, 7]}, True), ({"batch": [bad, 7]}, False),
                         ({"batch": [good], "context": "x"}, False), ({"batch": [good], "sentAt": "soon"}, False),
                         ({"batch": [good | {"context": {}}], "context": []}, False), ({"batch": {}}, False)):
        assert batch.is_valid(body) is stored and _server_accepts(body, "batch") is stored, body
