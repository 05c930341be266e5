"""The one log format (text and JSON: a client's value cannot forge a line or a field) and the
per-address throttle of failing sources (bounded in memory)."""

from __future__ import annotations

import asyncio
import io
import json
import logging

import pytest

from keyhouse.logs import configure, log_request, text_value
from keyhouse.services.throttle import SourceThrottle, SourceThrottled


@pytest.fixture
def logged() -> io.StringIO:
    stream = io.StringIO()
    yield stream
    configure("info", "text")


def _record(stream: io.StringIO, fmt: str, **fields: object) -> str:
    configure("info", fmt, stream)
    logging.getLogger("keyhouse.request").info("request", extra={"fields": fields})
    logging.getLogger("uvicorn.error").info("Started server process [1]")
    return stream.getvalue()


def test_text_lines_escape_what_a_client_wrote(logged: io.StringIO) -> None:
    forged = 'GetUser status=200\n2026-01-01T00:00:00.000Z INFO keyhouse.request "x'
    out = _record(logged, "text", action=forged, status=400, key=None)
    lines = out.splitlines()
    assert len(lines) == 2  # the newline did not start a line of its own
    assert ' INFO keyhouse.request request action="GetUser status=200\\n' in lines[0]
    assert lines[0].endswith("status=400 key=-")
    assert " INFO uvicorn.error Started server process [1]" in lines[1]


def test_json_lines_carry_the_fields_as_keys(logged: io.StringIO) -> None:
    out = _record(logged, "json", action="Get\nUser", status=400, message="not mine")
    first, second = (json.loads(line) for line in out.splitlines())
    assert first["action"] == "Get\nUser" and first["status"] == 400
    assert first["message"] == "request"  # a field cannot replace the record's own keys
    assert second["logger"] == "uvicorn.error"


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_a_request_line_written_directly_is_the_line_logging_writes(
    logged: io.StringIO, fmt: str
) -> None:
    """log_request skips the LogRecord when configure()'s handler is the only one: the line
    must be the one the logging module would have written (but for the time)."""
    configure("info", fmt, logged)
    args = ("api", "R-1", 'Get "x"\n', "user:1/a b", None, "10.0.0.1", 403, "NoPermission", 0.0012)
    log_request(*args)  # written directly
    listening = logging.getLogger("keyhouse.request")
    spy = logging.NullHandler()
    listening.addHandler(spy)  # another listener: through the logging module
    try:
        log_request(*args)
    finally:
        listening.removeHandler(spy)
    direct, logged_line = logged.getvalue().splitlines()
    if fmt == "json":
        direct_doc, logged_doc = json.loads(direct), json.loads(logged_line)
        assert direct_doc.pop("time")[:19] and logged_doc.pop("time")
        assert direct_doc == logged_doc and direct_doc["action"] == 'Get "x"\n'
    else:
        assert direct.split(" ", 1)[1] == logged_line.split(" ", 1)[1]
        assert 'action="Get \\"x\\"\\n"' in direct and direct.endswith("ms=1.2")


def test_request_lines_of_one_loop_iteration_are_written_together(logged: io.StringIO) -> None:
    configure("info", "text", logged)
    args = ("api", "R-1", "GetCallerIdentity", "-", None, "10.0.0.1", 200, "OK", 0.001)

    async def serve() -> tuple[str, str]:
        for _ in range(3):
            log_request(*args)
        before = logged.getvalue()  # nothing written yet: the iteration is not over
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        return before, logged.getvalue()

    before, after = asyncio.run(serve())
    assert before == "" and len(after.splitlines()) == 3
    log_request(*args)  # no event loop (a worker thread): written at once
    assert len(logged.getvalue().splitlines()) == 4


def test_plain_values_stay_plain() -> None:
    assert text_value("GetCallerIdentity") == "GetCallerIdentity"
    assert text_value("") == '""'
    assert text_value("a b") == '"a b"'


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_an_address_is_throttled_after_its_failures_and_recovers() -> None:
    clock = Clock()
    throttle = SourceThrottle(60, clock=clock)
    for _ in range(60):
        throttle.check("10.0.0.1")
        throttle.failed("10.0.0.1", "signature_mismatch")
    with pytest.raises(SourceThrottled) as refused:
        throttle.check("10.0.0.1")
    assert refused.value.data["retry_after"] == "1"
    throttle.check("10.0.0.2")  # another address is not affected
    clock.now += 1.0  # one failure a second comes back
    throttle.check("10.0.0.1")
    throttle.failed("10.0.0.1", "signature_mismatch")
    with pytest.raises(SourceThrottled):
        throttle.check("10.0.0.1")


def test_refusals_of_a_proven_secret_do_not_count() -> None:
    throttle = SourceThrottle(2, clock=Clock())
    for _ in range(10):
        throttle.failed("10.0.0.1", "access_policy_denied")
        throttle.failed("10.0.0.1", "nonce_used")
    throttle.check("10.0.0.1")


def test_the_throttle_remembers_a_bounded_number_of_addresses() -> None:
    throttle = SourceThrottle(1, max_sources=100, clock=Clock())
    for i in range(10_000):
        throttle.failed(f"10.{i // 65536}.{i // 256 % 256}.{i % 256}", "key_not_found")
    assert len(throttle) == 100
    with pytest.raises(SourceThrottled):
        throttle.check("10.0.39.15")  # the most recent is remembered


def test_zero_turns_the_throttle_off() -> None:
    throttle = SourceThrottle(0, clock=Clock())
    for _ in range(100):
        throttle.failed("10.0.0.1", "signature_mismatch")
    throttle.check("10.0.0.1")
    assert len(throttle) == 0
