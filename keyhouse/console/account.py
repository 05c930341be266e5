"""Signing in and out, a RAM user's own password, and where a person lands."""

from __future__ import annotations

import hmac
import secrets

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from keyhouse.console.web import COOKIE, Ctx, Pages, Redirect, Web, read_form
from keyhouse.domain.actions import Action
from keyhouse.domain.errors import InvalidValue
from keyhouse.services.console import ConsoleBusy, SignInRefused

PAGES = Pages()
SIGNIN_CSRF = "kh_signin"


def landing(is_user: bool) -> str:
    """The account owner starts at the users; a RAM user at its start page (which opens its
    own AccessKeys when it may manage them)."""
    return "/console" if is_user else "/console/users"


@PAGES.get("/console", None)
@PAGES.get("/console/", None)
def home(ctx: Ctx) -> Response:
    """A RAM user's first page: its own AccessKeys when it may list them, else what it may
    use and which setting keeps its AccessKeys from it (never a refusal: every "Back to the
    console" leads here)."""
    if ctx.who.kind != "user":
        return RedirectResponse(landing(False), status_code=303)
    offered = ctx.offered()
    if "keys" in offered:
        return RedirectResponse("/console/keys", status_code=303)
    return ctx.page("home.html", nav="home", offered=offered)


@PAGES.raw("/console/signin", ["GET", "POST"])
async def signin(web: Web, request: Request) -> Response:
    if request.method == "GET":
        token = secrets.token_urlsafe(24)
        page = web.render(request, "signin.html", csrf=token, error="", form={})
        page.set_cookie(SIGNIN_CSRF, token, httponly=True, samesite="lax", path="/console")
        return page
    form = await read_form(request) or {}
    expected = request.cookies.get(SIGNIN_CSRF, "")
    if not expected or not hmac.compare_digest(form.get("csrf", ""), expected):
        return web.render(request, "problem.html", status=403, **EXPIRED)
    account, user = form.get("account", "").strip(), form.get("user", "").strip()
    surface = web.surface(request)
    acting = web.services.acting

    def refused(status: int, message: str) -> Response:
        kept = {"account": account, "user": user}
        return web.render(
            request, "signin.html", status=status, csrf=expected, error=message, form=kept
        )

    try:
        signed = await run_in_threadpool(
            web.services.console.sign_in,
            account,
            user or None,
            form.get("password", ""),
            surface.source_ip,
        )
    except ConsoleBusy as exc:
        return refused(503, exc.message)
    except SignInRefused as exc:
        code = "ConsoleSignin.Throttled" if exc.throttled else "ConsoleSignin.Failed"
        account_id = exc.data.get("account_id", "")
        await run_in_threadpool(acting.sign_in, surface, account_id, user, None, code)
        return refused(429 if exc.throttled else 401, exc.message)
    stage = signed.session.mfa_stage
    if stage != "code":  # with a device, the sign-in is recorded once the code is given
        await run_in_threadpool(
            acting.sign_in, surface, signed.session.account_id, user, signed.principal
        )
    target = landing(bool(user))
    if stage:
        target = "/console/mfa/code" if stage == "code" else "/console/mfa"
    elif signed.session.must_change_password:
        target = "/console/password"
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        COOKIE,
        signed.token,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https" or web.origin(request).secure,
        path="/console",
        max_age=8 * 3600,
    )
    response.delete_cookie(SIGNIN_CSRF, path="/console")
    return response


EXPIRED = {
    "title": "This form has expired",
    "message": "The form did not come from this console session (it may have expired). "
    "Go back, reload the page, and try again.",
}


@PAGES.raw("/console/signout", ["POST"])
async def signout(web: Web, request: Request) -> Response:
    form = await read_form(request) or {}
    found = await run_in_threadpool(web.signed_in, request)
    if found is not None:
        if not hmac.compare_digest(form.get("csrf", ""), found[0].csrf):
            return web.render(request, "problem.html", status=403, **EXPIRED)
        await run_in_threadpool(web.services.console.sign_out, request.cookies.get(COOKIE, ""))
    response = RedirectResponse("/console/signin", status_code=303)
    response.delete_cookie(COOKIE, path="/console")
    return response


@PAGES.get("/console/password", None)
def password_page(ctx: Ctx) -> Response:
    return ctx.page("password.html")


@PAGES.post(
    "/console/password", Action.UpdateLoginProfile, lambda c: "/console/password", lambda c: {}
)
def change_password(ctx: Ctx) -> Redirect:
    if ctx.form.get("new", "") != ctx.form.get("repeat", ""):
        raise InvalidValue("NewPassword", "The two new passwords are not the same.")
    ctx.svc.console.change_own_password(ctx.session, ctx.form.get("current", ""), ctx.form["new"])
    return Redirect(landing(ctx.who.kind == "user"), notice="Your password was changed.")
