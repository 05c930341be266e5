"""A raw ASGI application: the wire endpoint at ``/`` and ``/healthz``.

No framework on this path: every request pays for it, and the benchmark compares it with a
bare ASGI app. Requests the in-process cache answers are served on the event loop; blocking
work (the store) runs on a bounded thread pool.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import orjson

from keyhouse import ids
from keyhouse.api.dispatch import Dispatcher
from keyhouse.api.gateway import PATH as GATEWAY_PATH
from keyhouse.api.gateway import GatewayEndpoint
from keyhouse.api.wire import WireRequest

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

log = logging.getLogger("keyhouse.http")
_T = TypeVar("_T")

_JSON_HEADERS = [(b"content-type", b"application/json;charset=utf-8")]
METRICS_TYPE = b"text/plain; version=0.0.4; charset=utf-8"


# How long a client may take to send its body once its headers are in.
BODY_TIMEOUT = 30.0
# Query and form parameters one request may carry (the largest action needs a few dozen).
MAX_PARAMETERS = 256


class BodyTooLarge(Exception):
    pass


class ClientGone(Exception):
    """The client went away before its body was all in: nothing to answer."""


class WireApp:
    def __init__(
        self,
        dispatcher: Dispatcher,
        *,
        ping: Callable[[], bool],
        threads: int,
        trail_health: Callable[[], Any] | None = None,
        cache_figures: Callable[[], Any] | None = None,
        metrics: Callable[[], bytes] | None = None,
        max_body: int,
        on_startup: Callable[[], None] = lambda: None,
        on_shutdown: Callable[[], None] = lambda: None,
        console: Callable[[Scope, Receive, Send], Awaitable[None]] | None = None,
        gateway: GatewayEndpoint | None = None,
    ) -> None:
        self.console = console
        self.gateway = gateway
        self.dispatcher = dispatcher
        self.ping = ping
        self.trail_health = trail_health
        self.cache_figures = cache_figures
        self.metrics = metrics
        self.max_body = max_body
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="keyhouse")
        self.on_startup = on_startup
        self.on_shutdown = on_shutdown

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        loop = asyncio.get_running_loop()
        path = scope["path"]
        if self.console is not None and (path == "/console" or path.startswith("/console/")):
            # The console reads forms with Starlette, which would take up to 1,000 fields of
            # 1 MB each: its bodies are held to the API's limit, declared up front.
            refused = _undeclared_or_too_large(scope, self.max_body)
            if refused is not None:
                await _reply(send, refused[0], _error(scope, *refused[1:]), close=True)
                return
            await self.console(scope, receive, send)
            return
        if path == "/healthz":
            await _reply(send, *await self._health(loop))
            return
        if path == "/metrics" and self.metrics is not None:
            exposition = await loop.run_in_executor(self.executor, self.metrics)
            await _send(send, 200, [(b"content-type", METRICS_TYPE)], exposition)
            return
        if self.gateway is not None and (
            path == GATEWAY_PATH or path.startswith(GATEWAY_PATH + "/")
        ):
            await self._verify(scope, receive, send)
            return
        if path != "/":
            await _reply(send, 404, _error(scope, "InvalidAction.NotFound", f"No API at {path}."))
            return
        if scope["method"] == "GET" and not scope.get("query_string") and _wants_html(scope):
            # A person who opened the server's address in a browser: show them the console.
            await send(
                {
                    "type": "http.response.start",
                    "status": 303,
                    "headers": [(b"location", b"/console"), (b"content-length", b"0")],
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return
        if scope["method"] not in {"GET", "POST"}:
            await _reply(send, 405, _error(scope, "MethodNotAllowed", "Use GET or POST."))
            return
        body = await self._body(scope, receive, send)
        if body is None:
            return
        query_string = scope.get("query_string", b"")
        if _parameter_count(query_string) + _parameter_count(body) > MAX_PARAMETERS:
            message = f"A request may carry at most {MAX_PARAMETERS} parameters."
            await _reply(send, 400, _error(scope, "InvalidParameter.Count", message))
            return
        client = scope.get("client") or ("", 0)
        request = WireRequest.build(
            scope["method"],
            path,
            query_string,
            scope["headers"],
            body,
            client[0],
            scope.get("scheme", "http"),
        )
        status, payload = await self.dispatcher.handle_async(request, self._on_thread)
        await _reply(send, status, payload)

    async def _body(self, scope: Scope, receive: Receive, send: Send) -> bytes | None:
        """The request's body; None when it was refused (answered) or the client went away.

        A body declared too large is refused before a byte of it is read, so a client that
        asked "Expect: 100-continue" gets the 413 and never a 100 Continue. Every refusal of a
        body not read to its end closes the connection: its rest would be read as the next
        request."""
        if _declared_length(scope) > self.max_body:
            await _reply(send, 413, self._too_large(scope), close=True)
            return None
        try:
            return await self._read_body(scope, receive)
        except TimeoutError:
            message = f"The body did not arrive within {BODY_TIMEOUT:.0f} seconds."
            await _reply(send, 408, _error(scope, "RequestTimeout", message), close=True)
        except BodyTooLarge:
            await _reply(send, 413, self._too_large(scope), close=True)
        except ClientGone:
            pass
        return None

    async def _verify(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A gateway's question (keyhouse.api.gateway): the client's headers, no body (or,
        from Envoy's with-body mode, the client's body)."""
        assert self.gateway is not None
        body = await self._body(scope, receive, send)
        if body is None:
            return
        client = scope.get("client") or ("", 0)
        request = WireRequest.build(
            scope["method"],
            scope["path"],
            scope.get("query_string", b""),
            scope["headers"],
            b"",
            client[0],
            scope.get("scheme", "http"),
        )
        if body:
            request = dataclasses.replace(request, body=body)
        answer = await self.gateway.handle_async(request, self._on_thread)
        await _send(
            send, answer.status, [*_JSON_HEADERS, *answer.headers], orjson.dumps(answer.body)
        )

    def _on_thread(
        self, handle: Callable[[WireRequest], _T], request: WireRequest
    ) -> Awaitable[_T]:
        return asyncio.get_running_loop().run_in_executor(self.executor, handle, request)

    async def _health(self, loop: asyncio.AbstractEventLoop) -> tuple[int, dict[str, Any]]:
        """200 while the store answers and the trail can write; 503 otherwise, saying which."""
        reachable = await loop.run_in_executor(self.executor, self.ping)
        body: dict[str, Any] = {"status": "ok" if reachable else "store unreachable"}
        healthy = reachable
        if self.trail_health is not None:
            trail = self.trail_health()
            body["trail"] = {
                "writable": trail.writable,
                "queued": trail.queued,
                "setAside": trail.set_aside,
                "summarized": trail.summarized,
                "batches": trail.batches,
                "batchedItems": trail.items,
            }
            if self.cache_figures is not None:
                cache = self.cache_figures()
                body["cache"] = {
                    "accounts": cache.accounts,
                    "rows": cache.rows,
                    "hits": cache.hits,
                    "misses": cache.misses,
                    "evictions": cache.evictions,
                }
            if not trail.writable:
                healthy = False
                if reachable:
                    body["status"] = "audit trail cannot write"
        return (200 if healthy else 503), body

    def _too_large(self, scope: Scope) -> dict[str, Any]:
        message = f"The body exceeds {self.max_body} bytes."
        return _error(scope, "RequestEntityTooLarge", message)

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes:
        if _bodiless(scope):  # the server has the whole request already: nothing to wait for
            return await self._read_body_now(receive)
        async with asyncio.timeout(BODY_TIMEOUT):
            return await self._read_body_now(receive)

    async def _read_body_now(self, receive: Receive) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientGone  # never serve a body cut short
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                raise BodyTooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    self.on_startup()
                except Exception as exc:
                    log.exception("start-up failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                try:
                    self.on_shutdown()
                finally:
                    self.executor.shutdown(wait=False)
                await send({"type": "lifespan.shutdown.complete"})
                return


def _undeclared_or_too_large(scope: Scope, limit: int) -> tuple[int, str, str] | None:
    """(status, code, message) refusing a body without a Content-Length (chunked) or longer
    than ``limit``; None when the body is declared and small enough (or there is none)."""
    headers = dict(scope.get("headers", []))
    length = headers.get(b"content-length")
    if length is None:
        if b"transfer-encoding" in headers:
            return 411, "LengthRequired", "Send a Content-Length with the body."
        return None
    if not length.isdigit() or int(length) > limit:
        return 413, "RequestEntityTooLarge", f"The body exceeds {limit} bytes."
    return None


def _declared_length(scope: Scope) -> int:
    """The body's Content-Length (0 when none, or unreadable: uvicorn's parser refuses those)."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else 0
    return 0


def _bodiless(scope: Scope) -> bool:
    """No Content-Length (or 0) and no Transfer-Encoding: the request has no body."""
    for name, value in scope["headers"]:
        if name == b"transfer-encoding" or (name == b"content-length" and value != b"0"):
            return False
    return True


def _parameter_count(encoded: bytes) -> int:
    """How many ``name=value`` pairs a query string or form body holds, at most."""
    return encoded.count(b"&") + 1 if encoded else 0


def _wants_html(scope: Scope) -> bool:
    accept = next((v for k, v in scope.get("headers", []) if k == b"accept"), b"")
    return b"text/html" in accept


def _error(scope: Scope, code: str, message: str) -> dict[str, Any]:
    host = next((v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"host"), "")
    return {
        "RequestId": ids.request_id(),
        "HostId": host,
        "Code": code,
        "Message": message,
        "Recommend": "",
    }


_CLOSE = [*_JSON_HEADERS, (b"connection", b"close")]


async def _reply(send: Send, status: int, payload: dict[str, Any], *, close: bool = False) -> None:
    await _send(send, status, _CLOSE if close else _JSON_HEADERS, orjson.dumps(payload))


async def _send(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
