"""Protected services (docs/protect.md): list and create; a service's routes (edited as JSON),
its recent calls from the trail (who called what, refusals); delete a service."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

from keyhouse.console.web import Ctx, Pages, Redirect, confirm, path
from keyhouse.domain.actions import Action
from keyhouse.domain.errors import DomainError

PAGES = Pages()
# How many of a service's recent verifications its page shows.
CALLS_SHOWN = 50

_EXAMPLE_ROUTES = [
    {
        "Method": "GET",
        "Path": "/orders/{id}",
        "Action": "GetOrder",
        "Resource": "acs:orders:*:${account}:order/{id}",
    }
]


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2)


@PAGES.get("/console/services", Action.ListServices)
def services(ctx: Ctx) -> Response:
    form = ctx.flash.form
    return ctx.page(
        "services.html",
        nav="services",
        services=ctx.svc.services.list(ctx.who),
        name=form.get("name", ""),
        description=form.get("description", ""),
        routes=form.get("routes", _pretty(_EXAMPLE_ROUTES)),
        actions=form.get("actions", "[]"),
    )


def _created(ctx: Ctx) -> dict[str, str]:
    return {"ServiceName": ctx.form.get("name", "").strip()}


@PAGES.post("/console/services", Action.CreateService, lambda c: "/console/services", _created)
def create(ctx: Ctx) -> Redirect:
    name = ctx.form.get("name", "").strip()
    ctx.svc.services.create(
        ctx.who,
        name,
        ctx.form.get("routes", ""),
        ctx.form.get("actions", "").strip() or None,
        ctx.form.get("description", "").strip(),
    )
    return Redirect(path("services", name), notice=f"Service {name} is protected.")


def _name(ctx: Ctx) -> dict[str, str]:
    return {"ServiceName": ctx.arg("service")}


def _back(ctx: Ctx) -> str:
    return path("services", ctx.arg("service"))


def _calls(ctx: Ctx, name: str) -> list[dict[str, Any]] | None:
    """The service's recent calls (None: the trail is not the reader's to read)."""
    try:
        return ctx.svc.trail.service_calls(ctx.who, name, CALLS_SHOWN)
    except DomainError:
        return None


@PAGES.get("/console/services/{service}", Action.GetService, _name)
def service(ctx: Ctx) -> Response:
    name = ctx.arg("service")
    record = ctx.svc.services.get(ctx.who, name)
    document = json.loads(record.service.document())
    form = ctx.flash.form
    return ctx.page(
        "service.html",
        nav="services",
        record=record,
        routes=form.get("routes", _pretty(document["Routes"])),
        actions=form.get("actions", json.dumps(document["Actions"])),
        description=form.get("description", record.service.description),
        calls=_calls(ctx, name),
    )


@PAGES.post("/console/services/{service}", Action.UpdateService, _back, _name)
def update(ctx: Ctx) -> Redirect:
    name = ctx.arg("service")
    ctx.svc.services.update(
        ctx.who,
        name,
        ctx.form.get("routes", ""),
        ctx.form.get("actions", "").strip() or "[]",
        ctx.form.get("description", "").strip(),
    )
    return Redirect(_back(ctx), notice=f"Service {name} was updated.")


@PAGES.post("/console/services/{service}/delete", Action.DeleteService, _back, _name)
def delete(ctx: Ctx) -> Redirect:
    name = ctx.arg("service")
    confirm(ctx.form, name, "the service name")
    ctx.svc.services.delete(ctx.who, name)
    return Redirect("/console/services", notice=f"Service {name} was deleted.")
