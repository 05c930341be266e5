"""The web console: server-rendered pages over the same use-cases as the API.

Every page runs as the signed-in principal (the account owner, or a RAM user under its
policies), so permissions, quotas and the audit trail are the API's own. Each page module
exports its routes (``PAGES``); this module joins them. Forms carry a CSRF token; sessions
live in the store and the cookie holds only a random token.
"""

from __future__ import annotations

import time
from collections.abc import MutableMapping
from typing import Any

from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from keyhouse.console import (
    account,
    groups,
    keys,
    logon,
    mfa,
    network,
    policies,
    protected,
    recycle_bin,
    roles,
    settings,
    trail,
    user,
    users,
)
from keyhouse.console.web import HERE, Web
from keyhouse.logs import CURRENT, RequestFacts, log_request
from keyhouse.origin import OriginResolver
from keyhouse.services.registry import Services

_METHODS = frozenset({"GET", "HEAD", "POST"})

HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


class ConsoleApp:
    def __init__(self, services: Services, origins: OriginResolver) -> None:
        self.metrics = services.metrics
        self.web = Web(services, origins)
        routes: list[Any] = self.web.routes(
            account.PAGES,
            users.PAGES,
            user.PAGES,
            keys.PAGES,
            mfa.PAGES,
            logon.PAGES,
            recycle_bin.PAGES,
            groups.PAGES,
            roles.PAGES,
            protected.PAGES,
            policies.PAGES,
            network.PAGES,
            trail.PAGES,
            settings.PAGES,
        )
        static = StaticFiles(directory=str(HERE / "static"))
        self.app = Starlette(routes=[*routes, Mount("/console/static", static, name="static")])

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        started = time.perf_counter()
        status = 500

        async def with_headers(message: MutableMapping[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers += [(k.lower().encode(), v.encode()) for k, v in HEADERS.items()]
                message = {**message, "headers": headers}
            await send(message)

        facts = RequestFacts()
        token = CURRENT.set(facts)
        try:
            await self.app(scope, receive, with_headers)
        finally:
            CURRENT.reset(token)
            self._logged(scope, facts, status, time.perf_counter() - started)

    def _logged(self, scope: Any, facts: RequestFacts, status: int, seconds: float) -> None:
        """The request's one log line (its event's facts, when it recorded one)."""
        method = scope.get("method", "-")
        # A label of a fixed set: the methods the console serves, and the rest together.
        self.metrics.console_requests.labels(
            method if method in _METHODS else "other", f"{status // 100}xx"
        ).inc()
        client = scope.get("client") or ("-", 0)
        log_request(
            "console",
            facts.request_id,
            facts.action,
            facts.principal,
            facts.key,
            facts.source or client[0],
            status,
            facts.code,
            seconds,
            method=method,
            path=scope.get("path", "")[:128],
        )
