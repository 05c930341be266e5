"""Groups: list and create; a group's members and policies; delete a group."""

from __future__ import annotations

from starlette.responses import Response

from keyhouse.console.attachments import policies_tab
from keyhouse.console.users import everyone
from keyhouse.console.web import (
    Ctx,
    Pages,
    Redirect,
    confirm,
    path,
    unattached_policies,
)
from keyhouse.domain.actions import Action
from keyhouse.domain.errors import DomainError
from keyhouse.services.attachments import GROUP
from keyhouse.services.base import UserRef

PAGES = Pages()


@PAGES.get("/console/groups", Action.ListGroups)
def groups(ctx: Ctx) -> Response:
    found, _ = ctx.svc.groups.page(ctx.who, None, 1000)
    return ctx.page("groups.html", nav="groups", groups=found)


@PAGES.post(
    "/console/groups",
    Action.CreateGroup,
    lambda c: "/console/groups",
    lambda c: {"GroupName": c.form.get("name", "").strip()},
)
def create(ctx: Ctx) -> Redirect:
    name = ctx.form.get("name", "").strip()
    ctx.svc.groups.create(ctx.who, name, ctx.form.get("comments", "").strip())
    return Redirect(path("groups", name), notice=f"Group {name} was created.")


def _name(ctx: Ctx) -> dict[str, str]:
    return {"GroupName": ctx.arg("group")}


def _back(ctx: Ctx) -> str:
    return path("groups", ctx.arg("group"))


@PAGES.get("/console/groups/{group}", Action.GetGroup, _name)
def group(ctx: Ctx) -> Response:
    name = ctx.arg("group")
    found = ctx.svc.groups.get(ctx.who, name)
    members, _ = ctx.svc.groups.members(ctx.who, name, None, 1000)
    attached = ctx.svc.attachments.of(ctx.who, GROUP, name)
    joined = {u.name for u, _ in members}
    try:
        users = [u for u in everyone(ctx) if u.name not in joined]
    except DomainError:
        users = None
    return ctx.page(
        "group.html",
        nav="groups",
        group=found,
        members=members,
        attached=attached,
        users=users,
        policies=unattached_policies(ctx, attached),
    )


@PAGES.post(
    "/console/groups/{group}/members",
    Action.AddUserToGroup,
    _back,
    lambda c: {"GroupName": c.arg("group"), "UserName": c.form.get("user", "")},
)
def add_member(ctx: Ctx) -> Redirect:
    name, user = ctx.arg("group"), ctx.form.get("user", "")
    ctx.svc.groups.add_user(ctx.who, name, UserRef.name(user))
    return Redirect(_back(ctx), notice=f"{user} was added to {name}.")


@PAGES.post(
    "/console/groups/{group}/members/{user}/remove",
    Action.RemoveUserFromGroup,
    _back,
    lambda c: {"GroupName": c.arg("group"), "UserName": c.arg("user")},
)
def remove_member(ctx: Ctx) -> Redirect:
    name, user = ctx.arg("group"), ctx.arg("user")
    ctx.svc.groups.remove_user(ctx.who, name, UserRef.name(user))
    return Redirect(_back(ctx), notice=f"{user} was removed from {name}.")


policies_tab(PAGES, GROUP, "/console/groups/{group}", "group", _back)


@PAGES.post("/console/groups/{group}/delete", Action.DeleteGroup, _back, _name)
def delete(ctx: Ctx) -> Redirect:
    name = ctx.arg("group")
    confirm(ctx.form, name, "the group name")
    ctx.svc.groups.delete(ctx.who, name)
    return Redirect("/console/groups", notice=f"Group {name} was deleted.")
