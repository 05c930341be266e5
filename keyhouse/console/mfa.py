"""A person's own MFA device (bind with a QR code and two consecutive codes, unbind with a
code), and the sign-in step that asks for a code.

A session that gave its password and holds a device opens only ``/console/mfa/code`` until
the code is right; one that must bind a device first (the login profile's MFABindRequired, or
the security preference) opens only these pages (keyhouse.console.web.Web._gate).
"""

from __future__ import annotations

import hmac

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from keyhouse.console.account import EXPIRED, landing
from keyhouse.console.web import Ctx, Pages, Redirect, Web, read_form
from keyhouse.domain import mfa
from keyhouse.domain.actions import Action
from keyhouse.services.console import ConsoleBusy, SignInRefused

PAGES = Pages()
MFA = "/console/mfa"
CODE = "/console/mfa/code"


def _own(ctx: Ctx) -> dict[str, str]:
    return {"UserName": ctx.who.user_name} if ctx.who.user_name else {}


@PAGES.get(MFA, Action.GetUserMFAInfo, _own)
def own(ctx: Ctx) -> Response:
    device = ctx.svc.mfa.own_device(ctx.who)
    return ctx.page("mfa.html", nav="mfa", device=device, forced=ctx.session.mfa_stage == "bind")


@PAGES.post(MFA + "/start", Action.CreateVirtualMFADevice, lambda c: MFA, _own)
def start(ctx: Ctx) -> Response:
    """A new device and its seed, shown on this response only (a reload makes another)."""
    made = ctx.svc.mfa.start_own(ctx.who, forced=ctx.session.mfa_stage == "bind")
    label = f"{ctx.who.user_name or 'owner'}@{ctx.session.account_name or ctx.who.account_id}"
    uri = made.uri(label)
    return ctx.page(
        "mfa_bind.html",
        nav="mfa",
        serial=made.device.serial_number,
        seed=made.seed,
        qr="data:image/png;base64," + mfa.qr_png_base64(uri),
    )


def _serial(ctx: Ctx) -> dict[str, str]:
    return {**_own(ctx), "SerialNumber": ctx.form.get("serial", "")[:128]}


@PAGES.post(MFA + "/bind", Action.BindMFADevice, lambda c: MFA, _serial)
def bind(ctx: Ctx) -> Redirect:
    forced = ctx.session.mfa_stage == "bind"
    ctx.svc.mfa.bind_own(
        ctx.who,
        ctx.form.get("serial", ""),
        ctx.form.get("code1", "").strip(),
        ctx.form.get("code2", "").strip(),
        forced=forced,
    )
    if forced:
        ctx.svc.console.device_bound(ctx.session)
        to = "/console/password" if ctx.session.must_change_password else None
        return Redirect(to or landing(ctx.who.kind == "user"), notice="Your MFA device is bound.")
    return Redirect(MFA, notice="Your MFA device is bound: sign-ins will ask for a code.")


@PAGES.post(MFA + "/unbind", Action.UnbindMFADevice, lambda c: MFA, _own)
def unbind(ctx: Ctx) -> Redirect:
    ctx.svc.mfa.unbind_own(ctx.who, ctx.form.get("code", "").strip())
    return Redirect(MFA, notice="Your MFA device was unbound and deleted.")


@PAGES.raw(CODE, ["GET", "POST"])
async def code(web: Web, request: Request) -> Response:
    """The sign-in's second step: the code from the person's device."""
    found = await run_in_threadpool(web.signed_in, request)
    if found is None:
        return RedirectResponse("/console/signin", status_code=303)
    session, principal = found
    is_user = principal.kind == "user"
    if session.mfa_stage != "code":
        return RedirectResponse(landing(is_user), status_code=303)
    if request.method == "GET":
        return web.render(request, "mfa_code.html", session=None, csrf=session.csrf, error="")
    form = await read_form(request) or {}
    if not hmac.compare_digest(form.get("csrf", ""), session.csrf):
        return web.render(request, "problem.html", status=403, **EXPIRED)
    surface = web.surface(request)
    acting = web.services.acting
    user = principal.user_name or ""
    try:
        await run_in_threadpool(
            web.services.console.give_code,
            session,
            principal.user_name,
            form.get("code", ""),
            surface.source_ip,
        )
    except ConsoleBusy as exc:
        return web.render(
            request, "mfa_code.html", status=503, csrf=session.csrf, error=exc.message
        )
    except SignInRefused as exc:
        refused = "ConsoleSignin.Throttled" if exc.throttled else "ConsoleSignin.MFAFailed"
        await run_in_threadpool(acting.sign_in, surface, session.account_id, user, None, refused)
        status = 429 if exc.throttled else 401
        return web.render(
            request, "mfa_code.html", status=status, csrf=session.csrf, error=exc.message
        )
    await run_in_threadpool(acting.sign_in, surface, session.account_id, user, principal)
    target = "/console/password" if session.must_change_password else landing(is_user)
    return RedirectResponse(target, status_code=303)
