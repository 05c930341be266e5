"""One log format for every logger in the process: Keyhouse's, the HTTP server's (uvicorn) and
the migrations' (alembic).

``text`` (the default) is one human-readable line per record: UTC time, level, logger, message,
then the record's fields as ``name=value``. ``json`` is one JSON object per line with the same
facts as keys. A record's fields come from ``extra={"fields": {...}}``; values that a client
sent are escaped (text) or encoded (JSON), so no request can forge a line of its own.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sys
import time
from contextvars import ContextVar
from dataclasses import dataclass
from typing import IO, Any

import orjson

from keyhouse.domain.model import Principal

FORMATS = ("text", "json")

# Loggers that configure handlers of their own: theirs are removed so that every record
# reaches the one handler on the root logger, in the one format.
_FOREIGN = ("uvicorn", "uvicorn.error", "uvicorn.asgi", "alembic", "httptools")

# A text value shown as it is: no space (it would split the value), and no quote, equals sign
# or backslash (they could forge a field or a quote); control characters are escaped too.
_PLAIN = re.compile(r'[^\s"=\\]+')


def configure(level: str, fmt: str = "text", stream: IO[str] | None = None) -> None:
    """Send every logger's records to one handler on ``stream`` (stderr) in ``fmt``."""
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    global _ONE  # the one handler, for request lines written directly
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    _ONE = handler
    root.setLevel(level.upper())
    for name in _FOREIGN:
        foreign = logging.getLogger(name)
        foreign.handlers.clear()
        foreign.propagate = True
    # Migrations say what they do at INFO; an operator needs only their failures.
    logging.getLogger("alembic").setLevel(logging.WARNING)


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    fields = getattr(record, "fields", None)
    return fields if isinstance(fields, dict) else {}


def text_value(value: object) -> str:
    """A field's value for a text line: as it is when plain, else quoted with escapes."""
    if value is None:
        return "-"
    if type(value) in (int, float):
        return str(value)  # digits, a sign and a point: nothing to escape
    shown = value if isinstance(value, str) else str(value)
    if _PLAIN.fullmatch(shown) and shown.isprintable():
        return shown
    escaped = shown.encode("unicode_escape").decode("ascii").replace('"', '\\"')
    return f'"{escaped}"'


class _Formatter(logging.Formatter):
    # The formatted second of the last record (most share theirs with the one before): one
    # tuple, swapped whole, so threads never see half of one.
    _second: tuple[int, str] = (-1, "")

    def _time(self, created: float) -> str:
        whole = int(created)
        cached = self._second
        if cached[0] != whole:
            cached = self._second = (
                whole,
                time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)),
            )
        return f"{cached[1]}.{int((created - whole) * 1000):03d}Z"

    def format(self, record: logging.LogRecord) -> str:
        exception = self.formatException(record.exc_info) if record.exc_info else None
        return self.line(
            record.created,
            record.levelname,
            record.name,
            record.getMessage(),
            _fields(record),
            exception,
        )

    def line(
        self,
        created: float,
        level: str,
        logger: str,
        message: str,
        fields: dict[str, Any],
        exception: str | None = None,
    ) -> str:
        raise NotImplementedError


class TextFormatter(_Formatter):
    def line(
        self,
        created: float,
        level: str,
        logger: str,
        message: str,
        fields: dict[str, Any],
        exception: str | None = None,
    ) -> str:
        shown = message if message.isprintable() else text_value(message)
        line = f"{self._time(created)} {level} {logger} {shown}"
        if fields:
            line += " " + " ".join(f"{k}={text_value(v)}" for k, v in fields.items())
        if exception:
            line += "\n" + exception
        return line


class JsonFormatter(_Formatter):
    def line(
        self,
        created: float,
        level: str,
        logger: str,
        message: str,
        fields: dict[str, Any],
        exception: str | None = None,
    ) -> str:
        document: dict[str, Any] = {
            "time": self._time(created),
            "level": level,
            "logger": logger,
            "message": message,
        }
        for name, value in fields.items():
            document.setdefault(name, value)
        if exception:
            document["exception"] = exception
        return orjson.dumps(document, default=str).decode()


@dataclass
class RequestFacts:
    """What the request being served did, for its one log line: filled in by whatever
    records its event (the console's pages run on worker threads; the copy of the context
    they run in shares this object)."""

    request_id: str = "-"
    action: str = "-"
    principal: str = "-"
    key: str = "-"
    code: str = "OK"
    source: str | None = None  # as the event has it (a trusted proxy's client, if vouched for)


CURRENT: ContextVar[RequestFacts | None] = ContextVar("keyhouse_request_facts", default=None)


def principal_name(principal: Principal | None) -> str:
    """The principal as a log line names it: kind, account, and user or role session."""
    if principal is None:
        return "-"
    if principal.session is not None:
        session = principal.session
        return f"assumed-role:{principal.account_id}/{session.role_name}/{session.name}"
    if principal.user_name:
        return f"{principal.kind}:{principal.account_id}/{principal.user_name}"
    return f"{principal.kind}:{principal.account_id}"


def note_request(
    request_id: str, action: str, principal: Principal | None, code: str, source: str
) -> None:
    """Tell the current request's log line what it did (no-op outside one)."""
    facts = CURRENT.get()
    if facts is None:
        return
    facts.request_id, facts.action, facts.code, facts.source = request_id, action, code, source
    if principal is not None:
        facts.principal = principal_name(principal)
        facts.key = principal.access_key_id or "-"


_REQUESTS = logging.getLogger("keyhouse.request")
_ONE: logging.StreamHandler[Any] | None = None  # configure()'s handler


def log_request(
    surface: str,
    request_id: str,
    action: str,
    principal: str,
    key: str | None,
    source: str,
    status: int,
    code: str,
    seconds: float,
    **more: object,
) -> None:
    """A request's one line (API and console alike); its fields are not even built when
    INFO is off."""
    if not _REQUESTS.isEnabledFor(logging.INFO):
        return
    fields = {
        "request_id": request_id,
        "surface": surface,
        "action": action,
        "principal": principal,
        "key": key,
        "source": source,
        **more,
        "status": status,
        "code": code,
        "ms": round(seconds * 1000, 2),
    }
    handler = _ONE
    if handler is None or _REQUESTS.handlers or logging.getLogger().handlers != [handler]:
        _REQUESTS.info("request", extra={"fields": fields})
        return
    # The one handler of configure(), and nothing else listening: the line is formatted and
    # written as the logging module would, without a LogRecord (its construction, the caller's
    # frame looked up, the filters) on every request.
    formatter = handler.formatter
    assert isinstance(formatter, _Formatter)
    line = formatter.line(time.time(), "INFO", _REQUESTS.name, "request", fields)
    line += handler.terminator
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # a worker thread: written now
        _write(handler, line)
        return
    # On the event loop, the lines of one loop iteration are written together at its end:
    # one system call for all of them instead of one per request.
    pending = _PENDING.get(loop)
    if pending is None:
        pending = _PENDING[loop] = []
        loop.call_soon(_write_pending, loop, handler)
    pending.append(line)


# Each running event loop's lines not written yet (touched by that loop's thread alone).
_PENDING: dict[asyncio.AbstractEventLoop, list[str]] = {}


def _write_pending(loop: asyncio.AbstractEventLoop, handler: logging.StreamHandler[Any]) -> None:
    _write(handler, "".join(_PENDING.pop(loop, ())))


def _write(handler: logging.StreamHandler[Any], text: str) -> None:
    with handler.lock:  # type: ignore[union-attr]
        try:
            handler.stream.write(text)
            handler.flush()
        except Exception:  # as logging.Handler.handleError: a line is never worth a request
            handler.handleError(logging.makeLogRecord({"msg": "request"}))
