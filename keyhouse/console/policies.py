"""Permission policies: system and custom ones, a JSON editor that checks a document before it
is saved, versions, and where a policy is attached (attach and detach from here too)."""

from __future__ import annotations

import json

from starlette.responses import Response

from keyhouse.console.attachments import from_policy
from keyhouse.console.users import everyone
from keyhouse.console.web import (
    Ctx,
    Pages,
    Redirect,
    confirm,
    path,
    pretty_json,
)
from keyhouse.domain.actions import Action
from keyhouse.domain.errors import DomainError
from keyhouse.services.attachments import GROUP, USER

PAGES = Pages()
EXAMPLE = json.dumps(
    {
        "Version": "1",
        "Statement": [
            {"Effect": "Allow", "Action": ["ram:Get*", "ram:List*"], "Resource": "*"},
        ],
    },
    indent=2,
)


@PAGES.get("/console/policies", Action.ListPolicies, lambda c: {"PolicyType": c.query("type")[:16]})
def policies(ctx: Ctx) -> Response:
    kind = ctx.query("type") if ctx.query("type") in {"System", "Custom"} else None
    found, _ = ctx.svc.policies.page(ctx.who, kind, None, 1000)
    return ctx.page("policies.html", nav="policies", policies=found, kind=kind or "")


@PAGES.get("/console/policies/new", None)
def new(ctx: Ctx) -> Response:
    form = ctx.flash.form
    return ctx.page(
        "policy_new.html",
        nav="policies",
        name=form.get("name", ""),
        description=form.get("description", ""),
        document=form.get("document", EXAMPLE),
    )


@PAGES.post(
    "/console/policies",
    Action.CreatePolicy,
    lambda c: "/console/policies/new",
    lambda c: {"PolicyName": c.form.get("name", "").strip()},
)
def create(ctx: Ctx) -> Redirect:
    name = ctx.form.get("name", "").strip()
    ctx.svc.policies.create(
        ctx.who, name, ctx.form.get("document", ""), ctx.form.get("description", "").strip()
    )
    return Redirect(path("policies", "Custom", name), notice=f"Policy {name} was created.")


def _ref(ctx: Ctx) -> dict[str, str]:
    return {"PolicyType": ctx.arg("kind"), "PolicyName": ctx.arg("policy")}


def _back(ctx: Ctx) -> str:
    return path("policies", ctx.arg("kind"), ctx.arg("policy"))


@PAGES.get("/console/policies/{kind}/{policy}", Action.GetPolicy, _ref)
def policy(ctx: Ctx) -> Response:
    kind, name = ctx.arg("kind"), ctx.arg("policy")
    view = ctx.svc.policies.get(ctx.who, kind, name)
    versions = ctx.svc.policies.list_versions(ctx.who, kind, name)
    entities = ctx.svc.policies.entities(ctx.who, kind, name)
    attached_users = {u.name for u, _ in entities.users}
    attached_groups = {g.name for g, _ in entities.groups}
    try:
        users = [u for u in everyone(ctx) if u.name not in attached_users]
    except DomainError:
        users = None
    try:
        groups = [
            g for g in ctx.svc.groups.page(ctx.who, None, 1000)[0] if g.name not in attached_groups
        ]
    except DomainError:
        groups = None
    return ctx.page(
        "policy.html",
        nav="policies",
        policy=view,
        document=pretty_json(view.document or ""),
        versions=[(v, pretty_json(v.document)) for v in versions],
        entities=entities,
        users=users,
        groups=groups,
        draft=ctx.flash.form.get("document", pretty_json(view.document or "")),
    )


@PAGES.post("/console/policies/{kind}/{policy}/versions", Action.CreatePolicyVersion, _back, _ref)
def create_version(ctx: Ctx) -> Redirect:
    name = ctx.arg("policy")
    version = ctx.svc.policies.create_version(
        ctx.who, name, ctx.form.get("document", ""), set_default=ctx.form.get("default") == "on"
    )
    return Redirect(_back(ctx), notice=f"Version {version.version_id} of {name} was created.")


def _version(ctx: Ctx) -> dict[str, str]:
    return {**_ref(ctx), "VersionId": ctx.arg("version")}


@PAGES.post(
    "/console/policies/{kind}/{policy}/versions/{version}/default",
    Action.SetDefaultPolicyVersion,
    _back,
    _version,
)
def set_default(ctx: Ctx) -> Redirect:
    version = ctx.arg("version")
    ctx.svc.policies.set_default_version(ctx.who, ctx.arg("policy"), version)
    return Redirect(_back(ctx), notice=f"Version {version} is now the default.")


@PAGES.post(
    "/console/policies/{kind}/{policy}/versions/{version}/delete",
    Action.DeletePolicyVersion,
    _back,
    _version,
)
def delete_version(ctx: Ctx) -> Redirect:
    version = ctx.arg("version")
    ctx.svc.policies.delete_version(ctx.who, ctx.arg("policy"), version)
    return Redirect(_back(ctx), notice=f"Version {version} was deleted.")


from_policy(PAGES, USER, "users", "user", _back)
from_policy(PAGES, GROUP, "groups", "group", _back)


@PAGES.post("/console/policies/{kind}/{policy}/delete", Action.DeletePolicy, _back, _ref)
def delete(ctx: Ctx) -> Redirect:
    name = ctx.arg("policy")
    confirm(ctx.form, name, "the policy name")
    ctx.svc.policies.delete(ctx.who, name)
    return Redirect("/console/policies", notice=f"Policy {name} was deleted.")
