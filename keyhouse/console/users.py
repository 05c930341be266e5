"""The users list: paging, search by name, display name or AccessKey ID, and creating a user."""

from __future__ import annotations

from starlette.responses import RedirectResponse, Response

from keyhouse.console.web import Ctx, Pages, Redirect, path
from keyhouse.domain.actions import Action
from keyhouse.domain.errors import DomainError, InvalidValue
from keyhouse.domain.model import User
from keyhouse.services.base import UserRef

PAGES = Pages()
PAGE = 20


def everyone(ctx: Ctx) -> list[User]:
    found: list[User] = []
    marker = None
    while True:
        page = ctx.svc.users.page(ctx.who, marker, 1000)
        found += page.users
        if not page.marker:
            return found
        marker = page.marker


def _offset(ctx: Ctx) -> int:
    raw = ctx.query("offset") or "0"
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 9):
        raise InvalidValue("Offset", "The page offset must be a whole number.")
    return int(raw)


@PAGES.get("/console/users", Action.ListUsers, lambda c: {"Search": c.query("q")[:128]})
def users(ctx: Ctx) -> Response:
    q = ctx.query("q")[:128]
    if q.startswith("LTAI"):  # an AccessKey ID: straight to its user, if it has one here
        try:
            found, _ = ctx.svc.users.get(ctx.who, UserRef.key(q))
        except DomainError:
            return ctx.page(
                "users.html",
                status=404,
                nav="users",
                users=[],
                q=q,
                offset=0,
                more=False,
                missing=f"No user in this account has the AccessKey {q}.",
            )
        return RedirectResponse(path("users", found.name), status_code=303)
    offset = _offset(ctx)
    shown = everyone(ctx)
    if q:
        needle = q.lower()
        shown = [u for u in shown if needle in u.name.lower() or needle in u.display_name.lower()]
    return ctx.page(
        "users.html",
        nav="users",
        users=shown[offset : offset + PAGE],
        q=q,
        offset=offset,
        more=offset + PAGE < len(shown),
        missing="",
    )


@PAGES.post(
    "/console/users",
    Action.CreateUser,
    lambda c: "/console/users",
    lambda c: {"UserName": c.form.get("name", "").strip()},
)
def create_user(ctx: Ctx) -> Redirect:
    name = ctx.form.get("name", "").strip()
    ctx.svc.users.create(
        ctx.who, UserRef.name(name), ctx.form.get("display_name") or None, display_name_limit=128
    )
    return Redirect(path("users", name, "keys"), notice=f"User {name} was created.")
