"""Account settings (default domain, how AccessKeys are deleted, the security preference) and
the credential report."""

from __future__ import annotations

from starlette.responses import Response

from keyhouse.clock import format_date
from keyhouse.console.web import Ctx, Pages, Redirect
from keyhouse.domain.actions import Action
from keyhouse.domain.errors import DomainError, InvalidValue
from keyhouse.domain.model import KeyDeletion

PAGES = Pages()
SETTINGS = "/console/settings"


@PAGES.get(SETTINGS, Action.GetSecurityPreference)
def settings(ctx: Ctx) -> Response:
    account = ctx.svc.accounts.security_preference(ctx.who)
    return ctx.page("settings.html", nav="settings", account=account)


@PAGES.post(
    SETTINGS + "/domain",
    Action.SetDefaultDomain,
    lambda c: SETTINGS,
    lambda c: {"DefaultDomainName": c.form.get("domain", "").strip()},
)
def domain(ctx: Ctx) -> Redirect:
    ctx.svc.accounts.set_default_domain(ctx.who, ctx.form.get("domain", "").strip())
    return Redirect(SETTINGS, notice="The default domain was saved.")


@PAGES.post(
    SETTINGS + "/deletion",
    Action.SetSecurityPreference,
    lambda c: SETTINGS,
    lambda c: {"KeyDeletion": c.form.get("mode", "")[:16]},
)
def deletion(ctx: Ctx) -> Redirect:
    try:
        mode = KeyDeletion(ctx.form.get("mode", ""))
    except ValueError:
        raise InvalidValue("KeyDeletion", "Choose one of the listed values.") from None
    if mode is KeyDeletion.IMMEDIATE:
        ctx.svc.accounts.security_preference(ctx.who)  # may it change settings at all?
        if ctx.form.get("confirm", "").strip() != "immediate":
            raise InvalidValue("Confirmation", "Type immediate to confirm.")
    ctx.svc.accounts.set_key_deletion_mode(ctx.who, mode)
    return Redirect(SETTINGS, notice="How AccessKeys are deleted was saved.")


@PAGES.post(
    SETTINGS + "/preference",
    Action.SetSecurityPreference,
    lambda c: SETTINGS,
    lambda c: {
        "AllowUserToManageAccessKeys": str(c.form.get("allow_keys") == "on"),
        "AllowUserToManageMFADevices": str(c.form.get("allow_mfa") == "on"),
        "MFAOperationForLogin": _mfa_for_login(c),
    },
)
def preference(ctx: Ctx) -> Redirect:
    ctx.svc.accounts.set_security_preference(
        ctx.who,
        ctx.form.get("allow_keys") == "on",
        allow_user_manage_mfa=ctx.form.get("allow_mfa") == "on",
        mfa_for_login=_mfa_for_login(ctx),
    )
    return Redirect(SETTINGS, notice="The security preference was saved.")


def _mfa_for_login(ctx: Ctx) -> str:
    return "mandatory" if ctx.form.get("require_mfa") == "on" else "independent"


@PAGES.get("/console/report", Action.GetCredentialReport)
def report(ctx: Ctx) -> Response:
    generated = ""
    try:
        found = ctx.svc.reports.get(ctx.who, 1, None)
        generated = format_date(found.generated_at)
    except DomainError as exc:
        if not exc.code.startswith("not_found"):
            raise
    return ctx.page("report.html", nav="report", generated=generated)


@PAGES.post("/console/report", Action.GenerateCredentialReport, lambda c: "/console/report")
def generate(ctx: Ctx) -> Redirect:
    state = ctx.svc.reports.generate(ctx.who)
    if state == "STARTED":
        return Redirect("/console/report", notice="A new report was generated.")
    return Redirect(
        "/console/report", notice="A report from the last four hours exists; it was kept."
    )


@PAGES.get("/console/report.csv", Action.GetCredentialReport)
def report_csv(ctx: Ctx) -> Response:
    found = ctx.svc.reports.get(ctx.who, 100_000, None)
    return Response(
        found.content,
        media_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="credential-report.csv"'},
    )
