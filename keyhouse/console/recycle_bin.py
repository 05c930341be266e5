"""The users' recycle bin: restore a user, or delete one for good."""

from __future__ import annotations

from starlette.responses import Response

from keyhouse.console.web import Ctx, Pages, Redirect, confirm
from keyhouse.domain.actions import Action

PAGES = Pages()
BIN = "/console/recycle-bin"


@PAGES.get(BIN, Action.ListUsersInRecycleBin)
def users_bin(ctx: Ctx) -> Response:
    page = ctx.svc.users.list_bin(ctx.who, None, None, 1000)
    # A binned user's keys wait in the key bin; they come back only after the user does,
    # so they are listed here without a Restore button.
    keys = {u.user_id: ctx.svc.keys.list_bin(ctx.who, u.user_id) for u in page.users}
    return ctx.page("bin.html", nav="bin", users=page.users, domain=page.domain, keys=keys)


def _user(ctx: Ctx) -> dict[str, str]:
    return {"UserId": ctx.arg("user_id")}


@PAGES.post(
    "/console/recycle-bin/{user_id}/restore", Action.RestoreUserFromRecycleBin, lambda c: BIN, _user
)
def restore(ctx: Ctx) -> Redirect:
    ctx.svc.users.restore(ctx.who, ctx.arg("user_id"))
    return Redirect(
        BIN,
        notice="The user was restored. Its AccessKeys stay in its key recycle bin until restored.",
    )


@PAGES.post(
    "/console/recycle-bin/{user_id}/purge", Action.DeleteUserInRecycleBin, lambda c: BIN, _user
)
def purge(ctx: Ctx) -> Redirect:
    user_id = ctx.arg("user_id")
    confirm(ctx.form, user_id, "the user ID")
    ctx.svc.users.purge(ctx.who, user_id)
    return Redirect(BIN, notice="The user was deleted permanently.")
