"""One user's page, in tabs (details, AccessKeys, groups, policies, recycle bin), and what is
done there to the user itself, its groups and its policies. Each tab view is one Read event
named for what it shows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.responses import Response

from keyhouse.console import keys as keys_pages
from keyhouse.console import logon
from keyhouse.console.attachments import policies_tab
from keyhouse.console.web import (
    Ctx,
    Pages,
    Redirect,
    path,
    unattached_policies,
)
from keyhouse.domain.actions import Action
from keyhouse.domain.errors import DomainError
from keyhouse.services.attachments import USER
from keyhouse.services.base import UserRef
from keyhouse.services.users import UserChanges

PAGES = Pages()
TABS = (
    ("details", "Details", ""),
    ("keys", "AccessKeys", "keys"),
    ("groups", "Groups", "groups"),
    ("policies", "Policies", "policies"),
    ("bin", "Recycle bin", "bin"),
)


def _name(ctx: Ctx) -> dict[str, str]:
    return {"UserName": ctx.arg("name")}


def _tabs(name: str) -> list[tuple[str, str, str]]:
    return [
        (key, label, path("users", name, *([tail] if tail else []))) for key, label, tail in TABS
    ]


def _page(ctx: Ctx, tab: str, **view: Any) -> Response:
    name = ctx.arg("name")
    user, domain = ctx.svc.users.get(ctx.who, UserRef.name(name))
    return ctx.page(
        f"user_{tab}.html",
        nav="users",
        user=user,
        domain=domain,
        tab=tab,
        tabs=_tabs(user.name),
        **view,
    )


@PAGES.get("/console/users/{name}", Action.GetUser, _name)
def details(ctx: Ctx) -> Response:
    return _page(ctx, "details", **logon.view(ctx, UserRef.name(ctx.arg("name"))))


@PAGES.get("/console/users/{name}/keys", Action.ListAccessKeys, _name)
def keys(ctx: Ctx) -> Response:
    view = keys_pages.keys_view(ctx)
    return _page(ctx, "keys", base=path("users", ctx.arg("name"), "keys"), **view)


@PAGES.get("/console/users/{name}/groups", Action.ListGroupsForUser, _name)
def groups(ctx: Ctx) -> Response:
    ref = UserRef.name(ctx.arg("name"))
    member_of = ctx.svc.groups.for_user(ctx.who, ref)
    joined = {g.name for g, _ in member_of}
    others = _optional(lambda: [g for g in _all_groups(ctx) if g.name not in joined])
    return _page(ctx, "groups", member_of=member_of, others=others)


@PAGES.get("/console/users/{name}/policies", Action.ListPoliciesForUser, _name)
def policies(ctx: Ctx) -> Response:
    attached = ctx.svc.attachments.of(ctx.who, USER, UserRef.name(ctx.arg("name")))
    return _page(ctx, "policies", attached=attached, others=unattached_policies(ctx, attached))


@PAGES.get("/console/users/{name}/bin", Action.ListAccessKeysInRecycleBin, _name)
def key_bin(ctx: Ctx) -> Response:
    user, _ = ctx.svc.users.get(ctx.who, UserRef.name(ctx.arg("name")))
    return _page(ctx, "bin", binned=keys_pages.binned(ctx, user.user_id))


def _optional(read: Callable[[], list[Any]]) -> list[Any] | None:
    """What a picker offers, or None when the caller may not list it (no picker then)."""
    try:
        return read()
    except DomainError:
        return None


def _all_groups(ctx: Ctx) -> list[Any]:
    found, _ = ctx.svc.groups.page(ctx.who, None, 1000)
    return found


# -- changes to the user ----------------------------------------------------------------------
@PAGES.post(
    "/console/users/{name}/update",
    Action.UpdateUser,
    lambda c: path("users", c.arg("name")),
    _name,
)
def update(ctx: Ctx) -> Redirect:
    name = ctx.arg("name")
    changes = UserChanges(
        display_name=ctx.form.get("display_name", "").strip() or None,
        comments=ctx.form.get("comments", ""),
        email=ctx.form.get("email", "").strip(),
    )
    ctx.svc.users.update(ctx.who, UserRef.name(name), changes, display_name_limit=128)
    return Redirect(path("users", name), notice="The user was saved.")


@PAGES.post(
    "/console/users/{name}/delete",
    Action.DeleteUser,
    lambda c: path("users", c.arg("name")),
    _name,
)
def delete(ctx: Ctx) -> Redirect:
    name = ctx.arg("name")
    ctx.svc.users.delete(ctx.who, UserRef.name(name))
    return Redirect("/console/recycle-bin", notice=f"User {name} was moved to the recycle bin.")


def _group_params(ctx: Ctx) -> dict[str, str]:
    group = ctx.request.path_params.get("group") or ctx.form.get("group", "")
    return {"UserName": ctx.arg("name"), "GroupName": group}


@PAGES.post(
    "/console/users/{name}/groups",
    Action.AddUserToGroup,
    lambda c: path("users", c.arg("name"), "groups"),
    _group_params,
)
def join(ctx: Ctx) -> Redirect:
    name, group = ctx.arg("name"), ctx.form.get("group", "")
    ctx.svc.groups.add_user(ctx.who, group, UserRef.name(name))
    return Redirect(path("users", name, "groups"), notice=f"{name} was added to {group}.")


@PAGES.post(
    "/console/users/{name}/groups/{group}/remove",
    Action.RemoveUserFromGroup,
    lambda c: path("users", c.arg("name"), "groups"),
    _group_params,
)
def leave(ctx: Ctx) -> Redirect:
    name, group = ctx.arg("name"), ctx.arg("group")
    ctx.svc.groups.remove_user(ctx.who, group, UserRef.name(name))
    return Redirect(path("users", name, "groups"), notice=f"{name} was removed from {group}.")


policies_tab(
    PAGES,
    USER,
    "/console/users/{name}",
    "name",
    lambda c: path("users", c.arg("name"), "policies"),
)
