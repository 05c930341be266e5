"""The audit trail page: one line per event, with the resource it concerned, Read/Write and
errors-only filters, and the vendor's codes."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from starlette.responses import Response

from keyhouse.console.web import Ctx, Pages
from keyhouse.domain import audit
from keyhouse.domain.actions import Action
from keyhouse.domain.errors import DomainError
from keyhouse.services.trail.lookup import parse_time

PAGES = Pages()
# Filter field -> LookupEvents attribute.
FILTERS = {
    "key": "EventAccessKeyId",
    "event": "EventName",
    "user": "User",
    "resource": "ResourceName",
    "rw": "EventRW",
}
FIELDS = (*FILTERS, "errors", "start", "end")
# Response values that name no resource (a new pair's status).
_NOT_RESOURCES = frozenset({"Active", "Inactive"})


def _attributes(ctx: Ctx) -> list[tuple[str, str]]:
    found = []
    for name, attribute in FILTERS.items():
        value = ctx.query(name)[:256]
        if name == "rw" and value not in {"Read", "Write"}:
            continue
        if value:
            found.append((attribute, value))
    return found


def _resource(event: dict[str, Any]) -> str:
    params = event.get("requestParameters") or {}
    response = event.get("responseElements")
    names = audit.resources(params, response if isinstance(response, dict) else None)
    return ", ".join(n for n in names if n not in _NOT_RESOURCES)


@PAGES.get("/console/audit", Action.LookupEvents, lambda c: dict(_attributes(c)))
def trail(ctx: Ctx) -> Response:
    query = {name: ctx.query(name)[:256] for name in FIELDS}
    error, events, token = "", [], ""
    try:
        start = parse_time(query["start"], "start") if query["start"] else None
        end = parse_time(query["end"], "end") if query["end"] else None
        page = ctx.svc.trail.lookup(
            ctx.who,
            _attributes(ctx),
            start,
            end,
            50,
            ctx.query("next") or None,
            False,
            errors_only=query["errors"] == "on",
        )
        events, token = page.events, page.next_token
    except DomainError as exc:
        if exc.code != "invalid_value":
            raise
        error = exc.message
    rows = [(e, _resource(e)) for e in events]
    older = ""
    if token:
        older = "/console/audit?" + urlencode(
            {**{k: v for k, v in query.items() if v}, "next": token}
        )
    status = 400 if error else 200
    return ctx.page(
        "audit.html", status=status, nav="audit", rows=rows, q=query, older=older, error=error
    )


@PAGES.get(
    "/console/audit/events/{event}", Action.LookupEvents, lambda c: {"EventId": c.arg("event")}
)
def event(ctx: Ctx) -> Response:
    """One event in full: its JSON, the resources it is found by, its place in the chain."""
    seq, resources, body = ctx.svc.trail.event(ctx.who, ctx.arg("event"))
    return ctx.page(
        "audit_event.html",
        nav="audit",
        event=body,
        seq=seq,
        resources=resources,
        document=json.dumps(body, indent=2, ensure_ascii=False),
    )
