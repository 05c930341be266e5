"""A RAM user's console sign-in, from its user page: give or reset its password, require a new
one at the next sign-in, require MFA, turn sign-in off or remove it, unbind its MFA device.
The vendor's login-profile and MFA actions, through the same use-cases as the API."""

from __future__ import annotations

import contextlib
from typing import Any

from keyhouse.console.web import Ctx, Pages, Redirect, path
from keyhouse.domain.actions import Action
from keyhouse.domain.errors import DomainError, InvalidValue, NotFound
from keyhouse.services.base import UserRef

PAGES = Pages()


def view(ctx: Ctx, ref: UserRef) -> dict[str, Any]:
    """The user's login profile and MFA device, for its details tab: ``profile`` None when it
    has none, ``logon_hidden`` when the reader may not see them."""
    found: dict[str, Any] = {"profile": None, "device": None, "logon_hidden": False}
    try:
        found["profile"] = ctx.svc.console.get_login_profile(ctx.who, ref)[1]
    except NotFound:
        pass
    except DomainError:
        found["logon_hidden"] = True
    with contextlib.suppress(DomainError):  # the reader may not see it: not shown
        found["device"] = ctx.svc.mfa.user_info(ctx.who, ref)
    return found


def _name(ctx: Ctx) -> dict[str, str]:
    return {"UserName": ctx.arg("name")}


def _back(ctx: Ctx) -> str:
    return path("users", ctx.arg("name"))


def _password(ctx: Ctx, required: bool) -> str | None:
    password = ctx.form.get("password", "")
    if password != ctx.form.get("repeat", ""):
        raise InvalidValue("Password", "The two passwords are not the same.")
    if required and not password:
        raise InvalidValue("Password", "Give the user a password.")
    return password or None


@PAGES.post("/console/users/{name}/logon", Action.CreateLoginProfile, _back, _name)
def enable(ctx: Ctx) -> Redirect:
    name = ctx.arg("name")
    ctx.svc.console.create_login_profile(
        ctx.who,
        UserRef.name(name),
        _password(ctx, True) or "",
        reset_required=ctx.form.get("reset_required") == "on",
        mfa_required=ctx.form.get("mfa_required") == "on",
        status="Active",
    )
    return Redirect(_back(ctx), notice=f"{name} can sign in to the console now.")


@PAGES.post("/console/users/{name}/logon/update", Action.UpdateLoginProfile, _back, _name)
def update(ctx: Ctx) -> Redirect:
    name = ctx.arg("name")
    password = _password(ctx, False)
    ctx.svc.console.update_login_profile(
        ctx.who,
        UserRef.name(name),
        password=password,
        reset_required=ctx.form.get("reset_required") == "on",
        mfa_required=ctx.form.get("mfa_required") == "on",
        status="Active" if ctx.form.get("active") == "on" else "Inactive",
    )
    done = "password was reset and its " if password else ""
    return Redirect(_back(ctx), notice=f"{name}'s {done}console sign-in was saved.")


@PAGES.post("/console/users/{name}/logon/delete", Action.DeleteLoginProfile, _back, _name)
def remove(ctx: Ctx) -> Redirect:
    name = ctx.arg("name")
    ctx.svc.console.delete_login_profile(ctx.who, UserRef.name(name))
    return Redirect(_back(ctx), notice=f"{name} can no longer sign in to the console.")


@PAGES.post("/console/users/{name}/mfa/unbind", Action.UnbindMFADevice, _back, _name)
def unbind(ctx: Ctx) -> Redirect:
    name = ctx.arg("name")
    ctx.svc.mfa.unbind(ctx.who, UserRef.name(name))
    return Redirect(_back(ctx), notice=f"{name}'s MFA device was unbound.")
