"""AccessKey pairs: a user's (its page's AccessKeys tab) and the signed-in identity's own
("My AccessKeys": the account owner's root pairs, or a RAM user's, as far as the account's
security preference and policies allow). The same handlers serve both; a route under
``/console/users/{name}`` means that user, one under ``/console/keys`` the caller."""

from __future__ import annotations

from typing import Any

from starlette.responses import RedirectResponse, Response

from keyhouse.console.web import Ctx, Pages, Redirect, confirm, path
from keyhouse.domain import rules
from keyhouse.domain.actions import Action
from keyhouse.domain.errors import DomainError
from keyhouse.domain.model import AccessKey, KeyDeletion, KeyStatus
from keyhouse.services.base import UserRef

PAGES = Pages()


def owner(ctx: Ctx) -> UserRef | None:
    name = ctx.request.path_params.get("name")
    return UserRef.name(name) if name is not None else None


def home(ctx: Ctx, tab: str = "keys") -> str:
    """The page a key action returns to."""
    name = ctx.request.path_params.get("name")
    if name is None:
        return "/console/keys/new-key" if tab == "new-key" else "/console/keys"
    return path("users", name, tab)


def key_params(ctx: Ctx) -> dict[str, str]:
    found = {"UserAccessKeyId": ctx.arg("key")}
    name = ctx.request.path_params.get("name")
    if name is not None:
        found["UserName"] = name
    return found


def owner_params(ctx: Ctx) -> dict[str, str]:
    name = ctx.request.path_params.get("name")
    return {"UserName": name} if name is not None else {}


def keys_view(ctx: Ctx) -> dict[str, Any]:
    """What a keys table shows: the pairs, who still uses the disabled ones, the bin, and
    whether deletion is immediate (then an Active pair may be deleted too)."""
    ref = owner(ctx)
    keys = ctx.svc.keys.list_live(ctx.who, ref)
    attempts = {
        k.access_key_id: ctx.svc.trail.attempts(k.access_key_id, 10)
        for k in keys
        if k.status is KeyStatus.INACTIVE
    }
    used = {k.access_key_id: ctx.svc.trail.services_used(k.access_key_id) for k in keys}
    immediate = False
    try:
        account = ctx.svc.accounts.security_preference(ctx.who)
        immediate = account.key_deletion is KeyDeletion.IMMEDIATE
    except DomainError:
        pass  # a RAM user without the permission: the server still decides on delete
    # The root's pairs (its own page, or "My AccessKeys" of the owner) or a user's.
    root = ref is None and ctx.who.user_id is None
    limit = rules.ROOT_KEY_LIMIT if root else rules.USER_KEY_LIMIT
    return {
        "keys": keys,
        "attempts": attempts,
        "used": used,
        "immediate": immediate,
        "limit": limit,
    }


def binned(ctx: Ctx, user_id: str | None) -> list[AccessKey]:
    return ctx.svc.keys.list_bin(ctx.who, user_id)


@PAGES.get("/console/keys", Action.ListAccessKeys)
def my_keys(ctx: Ctx) -> Response:
    view = keys_view(ctx)
    return ctx.page("keys.html", nav="keys", base="/console/keys", binned=binned(ctx, None), **view)


@PAGES.post("/console/keys", Action.CreateAccessKey, home, owner_params)
@PAGES.post("/console/users/{name}/keys", Action.CreateAccessKey, home, owner_params)
def create_key(ctx: Ctx) -> Redirect:
    created = ctx.svc.keys.create(ctx.who, owner(ctx))
    # Post/redirect/get: the secret waits, sealed, for the next page only, so that a
    # reload shows nothing again and creates nothing.
    message = f"AccessKey {created.key.access_key_id} was created."
    return Redirect(home(ctx, "new-key"), notice=message, created=created)


@PAGES.get("/console/keys/new-key", None)
@PAGES.get("/console/users/{name}/new-key", None)
def new_key(ctx: Ctx) -> Response:
    flash = ctx.flash
    if not flash.secret:  # shown once: a reload lands on the keys
        return RedirectResponse(home(ctx), status_code=303)
    name = ctx.request.path_params.get("name")
    return ctx.page(
        "new_key.html",
        nav="users" if name else "keys",
        name=name,
        back=home(ctx),
        key_id=flash.access_key_id,
        secret=flash.secret,
    )


@PAGES.post("/console/keys/{key}/status", Action.UpdateAccessKey, home, key_params)
@PAGES.post("/console/users/{name}/keys/{key}/status", Action.UpdateAccessKey, home, key_params)
def set_status(ctx: Ctx) -> Redirect:
    status = KeyStatus(ctx.form.get("status", "Inactive"))
    key = ctx.svc.keys.set_status(ctx.who, owner(ctx), ctx.arg("key"), status)
    word = "enabled" if status is KeyStatus.ACTIVE else "disabled"
    return Redirect(home(ctx), notice=f"AccessKey {key.access_key_id} was {word}.")


@PAGES.post("/console/keys/{key}/delete", Action.DeleteAccessKey, home, key_params)
@PAGES.post("/console/users/{name}/keys/{key}/delete", Action.DeleteAccessKey, home, key_params)
def delete_key(ctx: Ctx) -> Redirect:
    key = ctx.arg("key")
    confirm(ctx.form, key, "the AccessKey ID")
    ctx.svc.keys.delete(ctx.who, owner(ctx), key)
    return Redirect(home(ctx), notice=f"AccessKey {key} was deleted.")


def bin_params(ctx: Ctx) -> dict[str, str]:
    found = {"UserAccessKeyId": ctx.arg("key")}
    if ctx.form.get("user_id"):
        found["UserId"] = ctx.form["user_id"]
    return found


def _bin_owner(ctx: Ctx) -> str | None:
    return ctx.form.get("user_id") or None


@PAGES.post(
    "/console/keys/bin/{key}/restore", Action.RestoreAccessKeyFromRecycleBin, home, bin_params
)
@PAGES.post(
    "/console/users/{name}/bin/{key}/restore",
    Action.RestoreAccessKeyFromRecycleBin,
    lambda c: home(c, "bin"),
    bin_params,
)
def restore_key(ctx: Ctx) -> Redirect:
    key = ctx.arg("key")
    ctx.svc.keys.restore(ctx.who, _bin_owner(ctx), key)
    return Redirect(home(ctx), notice=f"AccessKey {key} was restored and is Active again.")


@PAGES.post("/console/keys/bin/{key}/purge", Action.DeleteAccessKeyInRecycleBin, home, bin_params)
@PAGES.post(
    "/console/users/{name}/bin/{key}/purge",
    Action.DeleteAccessKeyInRecycleBin,
    lambda c: home(c, "bin"),
    bin_params,
)
def purge_key(ctx: Ctx) -> Redirect:
    key = ctx.arg("key")
    confirm(ctx.form, key, "the AccessKey ID")
    ctx.svc.keys.purge(ctx.who, _bin_owner(ctx), key)
    return Redirect(home(ctx, "bin"), notice=f"AccessKey {key} was deleted permanently.")
