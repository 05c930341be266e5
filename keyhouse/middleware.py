"""Keyhouse in front of a Python service without a gateway: ASGI (Starlette, FastAPI) and WSGI
(Flask, Django) middleware that asks Keyhouse's verification endpoint about every request.

For each request the middleware

1. reads the body (at most ``max_body`` bytes: 413 beyond) and checks it against the
   ``x-acs-content-sha256`` the client signed (a gateway cannot: it never sends the body);
2. sends the request's method, URI, host and headers to ``/gateway/verify`` as a gateway does,
   with the service's name and the middleware's own gateway key;
3. answers Keyhouse's refusal itself (401/403/503, the vendor's JSON envelope), or calls the
   application with the caller's identity: ``request.state.keyhouse`` (ASGI: the scope's
   ``state``) or ``environ["keyhouse.identity"]`` (WSGI), a :class:`Identity`.

It keeps nothing between requests (no cache of keys, verdicts or identities): a key disabled,
a policy detached or a session revoked is refused on its very next request. Keyhouse must
trust this process's address as a proxy (``KEYHOUSE_TRUSTED_PROXIES``) for the client's
address it sends (network policies, the throttle); see docs/protect.md.

Only the standard library is used, so the services it protects need nothing else.
"""

from __future__ import annotations

import asyncio
import hashlib
import http.client
import io
import json
import threading
import uuid
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

__all__ = ["Identity", "KeyhouseASGI", "KeyhouseWSGI", "Verdict", "Verifier"]

_SHA256 = "x-acs-content-sha256"
# Headers of one connection, not of the request: never forwarded.
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "content-length", "expect", "upgrade", "te"}
)
_REASONS = {401: "Unauthorized", 403: "Forbidden", 413: "Payload Too Large", 503: "Unavailable"}


@dataclass(frozen=True, slots=True)
class Identity:
    """Who Keyhouse says made the request."""

    account_id: str
    principal_arn: str
    principal_type: str  # "Account" | "RAMUser" | "AssumedRoleUser"
    access_key_id: str
    action: str  # "orders:GetOrder"
    resource: str
    request_id: str  # Keyhouse's, as in its trail


@dataclass(frozen=True, slots=True)
class Verdict:
    status: int  # 200: allowed
    body: dict[str, Any]  # Keyhouse's answer (a refusal's envelope)
    identity: Identity | None = None

    @property
    def allowed(self) -> bool:
        return self.status == 200 and self.identity is not None


def _refusal(status: int, code: str, message: str) -> Verdict:
    body = {"Code": code, "Message": message, "RequestId": str(uuid.uuid4()).upper()}
    return Verdict(status, body)


class Verifier:
    """Asks Keyhouse about requests; thread-safe. Connections to Keyhouse are kept alive and
    shared (at most ``MAX_IDLE`` idle ones); nothing else is kept between requests."""

    MAX_IDLE = 16

    def __init__(
        self,
        endpoint: str,
        service: str,
        gateway_access_key_id: str,
        gateway_access_key_secret: str,
        *,
        timeout: float = 5.0,
        max_body: int = 1 << 20,
    ) -> None:
        parts = urlsplit(endpoint if "://" in endpoint else f"http://{endpoint}")
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError(f"not a Keyhouse endpoint: {endpoint!r}")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._https else 80)
        self.service = service
        self._gateway = f"{gateway_access_key_id}:{gateway_access_key_secret}"
        self.timeout = timeout
        self.max_body = max_body
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def __repr__(self) -> str:  # never the gateway's secret
        return f"Verifier({self._host}:{self._port}, service={self.service!r})"

    def check(
        self,
        method: str,
        uri: str,
        headers: Iterable[tuple[str, str]],
        client: str,
        body: bytes,
    ) -> Verdict:
        """The verdict on one request (its body already read)."""
        given = [(k.lower(), v) for k, v in headers]
        claimed = next((v for k, v in given if k == _SHA256), None)
        if claimed is None or hashlib.sha256(body).hexdigest() != claimed.strip().lower():
            return _refusal(
                401,
                "SignatureDoesNotMatch",
                "The body does not match its signed x-acs-content-sha256.",
            )
        host = next((v for k, v in given if k == "host"), "")
        sent = [
            (k, v)
            for k, v in given
            if not k.startswith("x-keyhouse-") and k != "host" and k not in _HOP_BY_HOP
        ]
        sent += [
            ("Host", f"{self._host}:{self._port}"),
            ("X-Forwarded-Method", method.upper()),
            ("X-Forwarded-Uri", uri),
            ("X-Forwarded-Host", host),
            ("X-Forwarded-For", client),
            ("X-Keyhouse-Service", self.service),
            ("X-Keyhouse-Gateway", self._gateway),
            ("Content-Length", "0"),
        ]
        try:
            status, answer, found = self._ask(sent)
        except (OSError, http.client.HTTPException, ValueError):
            return _refusal(
                503, "ServiceUnavailable", "The request cannot be verified now; try again later."
            )
        if status != 200:
            if status not in {401, 403}:
                status = 503
            return Verdict(status, answer)
        return Verdict(
            200,
            answer,
            Identity(
                account_id=found.get("x-keyhouse-account-id", ""),
                principal_arn=found.get("x-keyhouse-principal-arn", ""),
                principal_type=found.get("x-keyhouse-principal-type", ""),
                access_key_id=found.get("x-keyhouse-access-key-id", ""),
                action=found.get("x-keyhouse-action", ""),
                resource=found.get("x-keyhouse-resource", ""),
                request_id=found.get("x-keyhouse-request-id", ""),
            ),
        )

    def _ask(self, headers: list[tuple[str, str]]) -> tuple[int, dict[str, Any], dict[str, str]]:
        for attempt in (1, 2):  # a kept-alive connection Keyhouse closed meanwhile: once more
            conn = self._checkout()
            try:
                conn.putrequest("GET", "/gateway/verify", skip_host=True, skip_accept_encoding=True)
                for name, value in headers:
                    conn.putheader(name, value)
                conn.endheaders()
                response = conn.getresponse()
                payload = response.read()
            except (OSError, http.client.HTTPException):
                conn.close()
                if attempt == 2:
                    raise
                continue
            found = {k.lower(): v for k, v in response.getheaders()}
            self._checkin(conn, reusable=not response.will_close)
            answer = json.loads(payload) if payload else {}
            if not isinstance(answer, dict):
                raise ValueError("Keyhouse answered something that is not a JSON object")
            return response.status, answer, found
        raise AssertionError("unreachable")

    def _checkout(self) -> http.client.HTTPConnection:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        return cls(self._host, self._port, timeout=self.timeout)

    def _checkin(self, conn: http.client.HTTPConnection, *, reusable: bool) -> None:
        with self._lock:
            if reusable and len(self._idle) < self.MAX_IDLE:
                self._idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        """Close the idle connections to Keyhouse (the verifier stays usable)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


def _envelope(verdict: Verdict) -> bytes:
    return json.dumps(verdict.body, separators=(",", ":")).encode()


# -- ASGI -------------------------------------------------------------------------------------

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class KeyhouseASGI:
    """``app = KeyhouseASGI(app, Verifier(...))``; the handler reads ``request.state.keyhouse``."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]], verifier: Verifier):
        self.app = app
        self.verifier = verifier

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body = await self._body(receive)
        if body is None:
            await self._refuse(
                send, _refusal(413, "RequestEntityTooLarge", "The body is too large.")
            )
            return
        raw_path = scope.get("raw_path") or quote(scope["path"]).encode()
        query = scope.get("query_string", b"")
        uri = raw_path.decode("latin-1") + ("?" + query.decode("latin-1") if query else "")
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
        client = (scope.get("client") or ("", 0))[0]
        verdict = await asyncio.to_thread(
            self.verifier.check, scope["method"], uri, headers, client, body
        )
        if not verdict.allowed:
            await self._refuse(send, verdict)
            return
        scope = dict(scope)
        scope["state"] = {**scope.get("state", {}), "keyhouse": verdict.identity}
        given = False

        async def replay() -> MutableMapping[str, Any]:
            nonlocal given
            if not given:
                given = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _body(self, receive: Receive) -> bytes | None:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return b"".join(chunks)
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.verifier.max_body:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    @staticmethod
    async def _refuse(send: Send, verdict: Verdict) -> None:
        payload = _envelope(verdict)
        await send(
            {
                "type": "http.response.start",
                "status": verdict.status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})


# -- WSGI -------------------------------------------------------------------------------------

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class KeyhouseWSGI:
    """``app.wsgi_app = KeyhouseWSGI(app.wsgi_app, Verifier(...))`` (Flask), or around Django's
    WSGI application; the view reads ``request.environ["keyhouse.identity"]``."""

    def __init__(self, app: WsgiApp, verifier: Verifier) -> None:
        self.app = app
        self.verifier = verifier

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        length_text = environ.get("CONTENT_LENGTH") or "0"
        if not length_text.isdigit() or int(length_text) > self.verifier.max_body:
            return self._refuse(
                start_response, _refusal(413, "RequestEntityTooLarge", "The body is too large.")
            )
        body = environ["wsgi.input"].read(int(length_text)) if int(length_text) else b""
        verdict = self.verifier.check(
            environ.get("REQUEST_METHOD", "GET"),
            _uri(environ),
            _headers(environ),
            environ.get("REMOTE_ADDR", ""),
            body,
        )
        if not verdict.allowed:
            return self._refuse(start_response, verdict)
        environ["keyhouse.identity"] = verdict.identity
        environ["wsgi.input"] = io.BytesIO(body)
        return self.app(environ, start_response)

    @staticmethod
    def _refuse(start_response: StartResponse, verdict: Verdict) -> list[bytes]:
        payload = _envelope(verdict)
        start_response(
            f"{verdict.status} {_REASONS.get(verdict.status, 'Refused')}",
            [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))],
        )
        return [payload]


def _uri(environ: dict[str, Any]) -> str:
    """The request's URI as the client sent it (servers keep it as RAW_URI or REQUEST_URI)."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw:
        return str(raw)
    path = quote(environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", ""), safe="/")
    query = environ.get("QUERY_STRING", "")
    return path + ("?" + query if query else "")


def _headers(environ: dict[str, Any]) -> list[tuple[str, str]]:
    found = [
        (key[5:].replace("_", "-").lower(), str(value))
        for key, value in environ.items()
        if key.startswith("HTTP_")
    ]
    if environ.get("CONTENT_TYPE"):
        found.append(("content-type", environ["CONTENT_TYPE"]))
    return found
