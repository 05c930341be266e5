"""RAM roles: list and create (with the trust policy editor); a role's details, trust policy,
policies and the sessions the trail saw; delete a role."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

from keyhouse.console.attachments import policies_tab
from keyhouse.console.web import (
    Ctx,
    Pages,
    Redirect,
    confirm,
    path,
    pretty_json,
    unattached_policies,
)
from keyhouse.domain.actions import Action
from keyhouse.domain.arn import root_arn
from keyhouse.domain.errors import DomainError, InvalidValue
from keyhouse.services.attachments import ROLE

PAGES = Pages()
# How many of a role's recent AssumeRole events its page shows.
SESSIONS_SHOWN = 20


def _example(account_id: str) -> str:
    """A new role's trust policy to start from: the account's own RAM identities."""
    statement = {
        "Effect": "Allow",
        "Action": "sts:AssumeRole",
        "Principal": {"RAM": [root_arn(account_id)]},
    }
    return json.dumps({"Version": "1", "Statement": [statement]}, indent=2)


def _duration(ctx: Ctx, field: str, parameter: str) -> int | None:
    text = ctx.form.get(field, "").strip()
    if not text:
        return None
    if not text.isdigit() or len(text) > 6:
        raise InvalidValue(parameter, f"{parameter} must be a number of seconds.")
    return int(text)


@PAGES.get("/console/roles", Action.ListRoles)
def roles(ctx: Ctx) -> Response:
    found, _ = ctx.svc.roles.page(ctx.who, None, 1000)
    form = ctx.flash.form
    return ctx.page(
        "roles.html",
        nav="roles",
        roles=found,
        name=form.get("name", ""),
        description=form.get("description", ""),
        duration=form.get("duration", "3600"),
        document=form.get("document", _example(ctx.who.account_id)),
    )


@PAGES.post(
    "/console/roles",
    Action.CreateRole,
    lambda c: "/console/roles",
    lambda c: {"RoleName": c.form.get("name", "").strip()},
)
def create(ctx: Ctx) -> Redirect:
    name = ctx.form.get("name", "").strip()
    ctx.svc.roles.create(
        ctx.who,
        name,
        ctx.form.get("document", ""),
        ctx.form.get("description", "").strip(),
        _duration(ctx, "duration", "MaxSessionDuration"),
    )
    return Redirect(path("roles", name), notice=f"Role {name} was created.")


def _name(ctx: Ctx) -> dict[str, str]:
    return {"RoleName": ctx.arg("role")}


def _back(ctx: Ctx) -> str:
    return path("roles", ctx.arg("role"))


def _sessions(ctx: Ctx, arn: str) -> list[dict[str, Any]] | None:
    """The role's recent sessions (None: the trail is not the reader's to read)."""
    try:
        return ctx.svc.trail.role_sessions(ctx.who, arn, SESSIONS_SHOWN)
    except DomainError:
        return None


@PAGES.get("/console/roles/{role}", Action.GetRole, _name)
def role(ctx: Ctx) -> Response:
    name = ctx.arg("role")
    found = ctx.svc.roles.get(ctx.who, name)
    attached = ctx.svc.attachments.of(ctx.who, ROLE, name)
    form = ctx.flash.form
    return ctx.page(
        "role.html",
        nav="roles",
        role=found,
        attached=attached,
        policies=unattached_policies(ctx, attached),
        sessions=_sessions(ctx, found.arn),
        document=form.get("document", pretty_json(found.trust_policy)),
        description=form.get("description", found.description),
        duration=form.get("duration", str(found.max_session_duration)),
    )


@PAGES.post("/console/roles/{role}", Action.UpdateRole, _back, _name)
def update(ctx: Ctx) -> Redirect:
    name = ctx.arg("role")
    ctx.svc.roles.update(
        ctx.who,
        name,
        trust_policy=ctx.form.get("document", ""),
        description=ctx.form.get("description", "").strip(),
        max_session_duration=_duration(ctx, "duration", "NewMaxSessionDuration"),
    )
    return Redirect(_back(ctx), notice=f"Role {name} was updated.")


policies_tab(PAGES, ROLE, "/console/roles/{role}", "role", _back)


@PAGES.post("/console/roles/{role}/delete", Action.DeleteRole, _back, _name)
def delete(ctx: Ctx) -> Redirect:
    name = ctx.arg("role")
    confirm(ctx.form, name, "the role name")
    ctx.svc.roles.delete(ctx.who, name)
    return Redirect("/console/roles", notice=f"Role {name} was deleted.")
