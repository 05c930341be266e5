"""The web console: server-rendered pages over the same use-cases as the API.

Every page runs as the signed-in principal (the account owner, or a RAM user under its
policies), so permissions, quotas and the audit trail are the API's own. Each page module
exports its routes (``PAGES``); this module joins them. Forms carry a CSRF token; sessions
live in the store and the cookie holds only a random token.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from keyhouse.api.wire import OriginResolver
from keyhouse.console import (
    account,
    groups,
    keys,
    network,
    policies,
    recycle_bin,
    roles,
    settings,
    trail,
    user,
    users,
)
from keyhouse.console.web import HERE, Web
from keyhouse.services.registry import Services

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
        self.web = Web(services, origins)
        routes: list[Any] = self.web.routes(
            account.PAGES,
            users.PAGES,
            user.PAGES,
            keys.PAGES,
            recycle_bin.PAGES,
            groups.PAGES,
            roles.PAGES,
            policies.PAGES,
            network.PAGES,
            trail.PAGES,
            settings.PAGES,
        )
        static = StaticFiles(directory=str(HERE / "static"))
        self.app = Starlette(routes=[*routes, Mount("/console/static", static, name="static")])

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        async def with_headers(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(k.lower().encode(), v.encode()) for k, v in HEADERS.items()]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
