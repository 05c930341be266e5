"""A raw ASGI application: the wire endpoint at ``/`` and ``/healthz``.

No framework on this path: every request pays for it, and the benchmark compares it with a
bare ASGI app. Blocking work (the store) runs on a bounded thread pool.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from keyhouse import ids
from keyhouse.api.dispatch import Dispatcher
from keyhouse.api.wire import WireRequest

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

log = logging.getLogger("keyhouse.http")

_JSON_HEADERS = [(b"content-type", b"application/json;charset=utf-8")]


class BodyTooLarge(Exception):
    pass


class WireApp:
    def __init__(
        self,
        dispatcher: Dispatcher,
        *,
        ping: Callable[[], bool],
        threads: int,
        max_body: int,
        on_startup: Callable[[], None] = lambda: None,
        on_shutdown: Callable[[], None] = lambda: None,
        console: Callable[[Scope, Receive, Send], Awaitable[None]] | None = None,
    ) -> None:
        self.console = console
        self.dispatcher = dispatcher
        self.ping = ping
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
            await self.console(scope, receive, send)
            return
        if path == "/healthz":
            healthy = await loop.run_in_executor(self.executor, self.ping)
            status = 200 if healthy else 503
            await _reply(send, status, {"status": "ok" if healthy else "store unreachable"})
            return
        if path != "/":
            await _reply(send, 404, _error(scope, "InvalidAction.NotFound", f"No API at {path}."))
            return
        if scope["method"] not in {"GET", "POST"}:
            await _reply(send, 405, _error(scope, "MethodNotAllowed", "Use GET or POST."))
            return
        try:
            body = await self._read_body(receive)
        except BodyTooLarge:
            await _reply(
                send,
                413,
                _error(scope, "RequestEntityTooLarge", f"The body exceeds {self.max_body} bytes."),
            )
            return
        client = scope.get("client") or ("", 0)
        request = WireRequest.build(
            scope["method"],
            path,
            scope.get("query_string", b""),
            scope["headers"],
            body,
            client[0],
            scope.get("scheme", "http"),
        )
        status, payload = await loop.run_in_executor(self.executor, self.dispatcher.handle, request)
        await _reply(send, status, payload)

    async def _read_body(self, receive: Receive) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
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


def _error(scope: Scope, code: str, message: str) -> dict[str, Any]:
    host = next((v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"host"), "")
    return {
        "RequestId": ids.request_id(),
        "HostId": host,
        "Code": code,
        "Message": message,
        "Recommend": "",
    }


async def _reply(send: Send, status: int, payload: dict[str, Any]) -> None:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*_JSON_HEADERS, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
