"""What every console page shares: the signed-in session, CSRF, one audit event per request,
post/redirect/get with a one-time flash, and the templates.

A page module declares its routes on a :class:`Pages` list:

- ``@pages.get(path, Action.X, params)``: a page view. It runs on a worker thread as the
  signed-in principal, inside one Read event named for what the person looked at.
- ``@pages.post(path, Action.X, back, params)``: a change. One event, named for the change,
  with the vendor's code when it fails. The handler returns a :class:`Redirect` (or, for a
  change whose page shows a secret once, that page); a refusal redirects to ``back`` with
  the error and the form as it was sent. Either way the next
  page shows it once, and a reload repeats nothing.

The event loop never touches the store: everything after reading the form runs on a thread.
"""

from __future__ import annotations

import dataclasses
import hmac
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from keyhouse.clock import format_date
from keyhouse.domain import policy, rules
from keyhouse.domain.actions import Action
from keyhouse.domain.codes import vendor_code
from keyhouse.domain.errors import DomainError, InvalidValue, PermissionDenied
from keyhouse.domain.model import ConsoleSession, NewSecret, Principal
from keyhouse.origin import Origin, OriginResolver
from keyhouse.services.console import Flash
from keyhouse.services.policies import Attached, PolicyView
from keyhouse.services.registry import Services
from keyhouse.services.trail.surface import Surface

HERE = Path(__file__).parent
COOKIE = "kh_session"
MAX_FORM_FIELDS = 64
MAX_FORM_BYTES = 64 * 1024


def explain(error: DomainError) -> str:
    """A refusal in words for the person who met it."""
    if isinstance(error, PermissionDenied):
        return (
            f"You are not allowed to do this ({error.action}). Ask an administrator for a "
            "policy that allows it."
        )
    return error.message


def confirm(form: Mapping[str, str], expected: str, what: str) -> None:
    """A destructive action's dialog asks to type what it destroys: refuse a mismatch."""
    if form.get("confirm", "").strip() != expected:
        raise InvalidValue("Confirmation", f"Type {what} {expected} to confirm.")


def policy_named(ctx: Ctx) -> tuple[str, str]:
    """(type, name) of the policy a route names, or a picker ("Custom:Name")."""
    if "policy" in ctx.request.path_params:
        return ctx.arg("kind"), ctx.arg("policy")
    kind, _, name = ctx.form.get("policy", "").partition(":")
    return kind, name


EVERYTHING = "ConfirmEverything"  # the flash field that opens the attach confirmation


def confirm_everything(ctx: Ctx, kind: str, name: str) -> None:
    """Attaching a policy that allows every action on every resource (AdministratorAccess, or
    a custom policy with ``*`` on ``*``) needs the dialog's confirmation: without it, refuse,
    and the page opens the dialog for that policy."""
    if ctx.form.get("everything") == "yes":
        return
    try:
        if kind == "System":
            document = policy.SYSTEM_POLICIES[name][1] if name in policy.SYSTEM_POLICIES else ""
        else:
            document = ctx.svc.policies.get(ctx.who, kind, name).document
        everything = policy.compiled(document).grants_everything if document else False
    except (DomainError, policy.PolicyError):
        return  # the attach itself says what is wrong
    if everything:
        raise InvalidValue(
            EVERYTHING,
            f"{name} allows every action on every resource. Confirm to attach it.",
        )


def everything_pending(flash: Any) -> dict[str, Any] | None:
    """The attach a page must ask to confirm (its dialog opens at once), or None."""
    if flash is None or getattr(flash, "field", "") != EVERYTHING:
        return None
    fields = {k: v for k, v in flash.form.items() if k in {"policy", "user", "group"}}
    return {"fields": fields, "message": flash.error}


def unattached_policies(ctx: Ctx, attached: list[Attached]) -> list[PolicyView] | None:
    """The policies a picker offers to attach (those not yet ``attached``), or None when the
    reader may not list policies (no picker then)."""
    held = {(a.view.type, a.view.name) for a in attached}
    try:
        found, _ = ctx.svc.policies.page(ctx.who, None, None, 1000)
    except DomainError:
        return None
    return [p for p in found if (p.type, p.name) not in held]


def pretty_json(document: str) -> str:
    """A JSON document indented for an editor (as it is, if it is not JSON)."""
    try:
        return json.dumps(json.loads(document), indent=2, ensure_ascii=False)
    except ValueError:
        return document


def path(*parts: str) -> str:
    return "/console/" + "/".join(quote(p, safe="") for p in parts)


# The side navigation's entry for a page, by the start of its address.
_NAV = (
    ("/console/users", "users"),
    ("/console/groups", "groups"),
    ("/console/roles", "roles"),
    ("/console/policies", "policies"),
    ("/console/keys", "keys"),
    ("/console/recycle-bin", "bin"),
    ("/console/network-policy", "network"),
    ("/console/services", "services"),
    ("/console/audit", "audit"),
    ("/console/report", "report"),
    ("/console/settings", "settings"),
    ("/console/mfa", "mfa"),
)


# What each navigation entry lists, by its key: the entry is offered only to those who may.
NAV_ACTIONS = {
    "users": Action.ListUsers,
    "groups": Action.ListGroups,
    "roles": Action.ListRoles,
    "policies": Action.ListPolicies,
    "keys": Action.ListAccessKeys,
    "bin": Action.ListUsersInRecycleBin,
    "network": Action.GetAccessKeyPolicyForAccount,
    "services": Action.ListServices,
    "audit": Action.LookupEvents,
    "report": Action.GetCredentialReport,
    "settings": Action.GetSecurityPreference,
}


def nav_of(address: str) -> str:
    return next((key for start, key in _NAV if address.startswith(start)), "")


@dataclass
class Redirect:
    """Where a change sends the browser, and what the next page shows once."""

    to: str
    notice: str = ""
    created: NewSecret | None = None
    form: dict[str, str] | None = None  # kept for the next page (a draft to show)


@dataclass
class Ctx:
    """One signed-in console request, served on a worker thread."""

    request: Request
    web: Web
    session: ConsoleSession
    who: Principal
    form: dict[str, str] = field(default_factory=dict)
    flash: Flash = field(default_factory=Flash)
    # What a change's event chooser learned, for its handler (see Pages.post).
    scratch: dict[str, Any] = field(default_factory=dict)

    @property
    def svc(self) -> Services:
        return self.web.services

    def arg(self, name: str) -> str:
        return str(self.request.path_params[name])

    def query(self, name: str, default: str = "") -> str:
        return self.request.query_params.get(name, default).strip()

    def offered(self) -> set[str]:
        """The navigation entries this person may use."""
        allowed = self.svc.console.permitted(self.who, NAV_ACTIONS.values())
        return {key for key, action in NAV_ACTIONS.items() if action in allowed}

    def page(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        context.setdefault("nav", nav_of(self.request.url.path))
        if "offered" not in context:  # (a page that needed it already has it)
            context["offered"] = self.offered()
        return self.web.render(
            self.request,
            template,
            status=status,
            session=self.session,
            who=self.who,
            flash=self.flash,
            **context,
        )

    def problem(self, error: DomainError, title: str = "") -> HTMLResponse:
        _, status = vendor_code(error)
        return self.page(
            "problem.html", status=status, title=title or "Not available", message=explain(error)
        )


Params = Callable[[Ctx], dict[str, str]]
Handler = Callable[[Ctx], Any]


def _none(_: Ctx) -> dict[str, str]:
    return {}


@dataclass(frozen=True)
class Page:
    """One console route: a page view (``back`` is None) or a change."""

    route: str
    handler: Handler
    event: Action | Callable[[Ctx], Action | None] | None
    params: Params
    back: Callable[[Ctx], str] | None = None


Raw = Callable[["Web", Request], Awaitable[Response]]


class Pages(list[Page | tuple[str, list[str], Raw]]):
    """A page module's routes, declared by decorating its handlers; the console app joins
    every module's list (:meth:`Web.routes`)."""

    def get(
        self, route: str, event: Action | None, params: Params = _none
    ) -> Callable[[Handler], Handler]:
        def add(handler: Handler) -> Handler:
            self.append(Page(route, handler, event, params))
            return handler

        return add

    def post(
        self,
        route: str,
        event: Action | Callable[[Ctx], Action | None] | None,
        back: Callable[[Ctx], str],
        params: Params = _none,
    ) -> Callable[[Handler], Handler]:
        """``event`` None: a post that changes nothing and reads nothing (it only carries a
        draft over to the page it redirects to, which records what it does). A function:
        chooses per request (a post that may turn out to be only a check)."""

        def add(handler: Handler) -> Handler:
            self.append(Page(route, handler, event, params, back))
            return handler

        return add

    def raw(self, route: str, methods: list[str]) -> Callable[[Raw], Raw]:
        """A route outside the signed-in flow (signing in and out)."""

        def add(endpoint: Raw) -> Raw:
            self.append((route, methods, endpoint))
            return endpoint

        return add


_TOO_BIG = {
    "session": None,
    "who": None,
    "title": "This form is too large",
    "message": "The form sent more than the console accepts.",
}
_EXPIRED = {
    "title": "This form has expired",
    "message": "The form did not come from this console session (it may have expired). "
    "Go back, reload the page, and try again.",
}


async def read_form(request: Request) -> dict[str, str] | None:
    """The form's fields, bounded in count and size before they are parsed; None beyond."""
    length = request.headers.get("content-length", "")
    if not length.isdigit() or int(length) > MAX_FORM_BYTES:
        return None
    data: FormData = await request.form(max_files=0, max_fields=MAX_FORM_FIELDS)
    return {k: v for k, v in data.items() if isinstance(v, str)}


class Web:
    """The console's shared parts: the use-cases, templates, and where requests come from."""

    def __init__(self, services: Services, origins: OriginResolver) -> None:
        self.services = services
        self.origins = origins
        self.templates = Jinja2Templates(directory=str(HERE / "templates"))
        self.templates.env.globals["format_date"] = format_date
        self.templates.env.globals["path"] = path
        self.templates.env.globals["everything_pending"] = everything_pending
        # The limits the pages state, from the rules that enforce them.
        self.templates.env.globals["rules"] = {
            "user_keys": rules.USER_KEY_LIMIT,
            "root_keys": rules.ROOT_KEY_LIMIT,
            "key_bin": rules.KEY_BIN_LIMIT,
            "user_bin": rules.USER_BIN_LIMIT,
            "bin_days": rules.BIN_RETENTION.days,
        }

    def routes(self, *lists: Pages) -> list[Route]:
        """Starlette routes for the page modules' lists."""
        found: list[Route] = []
        for pages in lists:
            for page in pages:
                if isinstance(page, tuple):
                    route, methods, raw = page
                    found.append(Route(route, self._raw(raw), methods=methods))
                else:
                    method = "GET" if page.back is None else "POST"
                    found.append(Route(page.route, self._endpoint(page), methods=[method]))
        return found

    def _raw(self, raw: Raw) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            return await raw(self, request)

        return endpoint

    def _endpoint(self, page: Page) -> Callable[[Request], Awaitable[Response]]:
        if page.back is None:

            async def view(request: Request) -> Response:
                return await run_in_threadpool(self.view, request, page)

            return view

        async def change(request: Request) -> Response:
            form = await read_form(request)
            if form is None:
                return self.render(request, "problem.html", status=413, **_TOO_BIG)
            return await run_in_threadpool(self.change, request, form, page)

        return change

    def render(
        self, request: Request, template: str, status: int = 200, **context: Any
    ) -> HTMLResponse:
        context.setdefault("session", None)
        context.setdefault("who", None)
        context.setdefault("flash", Flash())
        return self.templates.TemplateResponse(request, template, context, status_code=status)

    def origin(self, request: Request) -> Origin:
        client = request.client.host if request.client else ""
        headers: dict[str, list[str]] = {}
        for name, value in request.headers.raw:
            headers.setdefault(name.decode("latin-1").lower(), []).append(value.decode("latin-1"))
        return self.origins.resolve(client, headers, request.url.scheme)

    def surface(self, request: Request) -> Surface:
        origin = self.origin(request)
        agent = request.headers.get("user-agent", "")
        return Surface("ConsoleOperation", "console", origin.address, agent)

    def signed_in(self, request: Request) -> tuple[ConsoleSession, Principal] | None:
        token = request.cookies.get(COOKIE)
        if not token:
            return None
        found = self.services.console.session(token)
        if found is None:
            return None
        session, principal = found
        origin = self.origin(request)
        return session, dataclasses.replace(
            principal, source_ip=origin.address, secure_transport=origin.secure
        )

    def _gate(self, request: Request) -> Ctx | Response:
        found = self.signed_in(request)
        if found is None:
            return RedirectResponse("/console/signin", status_code=303)
        session, who = found
        where = request.url.path
        # A session that gave its password opens nothing else until it gives its MFA code,
        # or binds a device when one is required; then a required new password.
        if session.mfa_stage == "code":
            return RedirectResponse("/console/mfa/code", status_code=303)
        if session.mfa_stage == "bind" and not where.startswith("/console/mfa"):
            return RedirectResponse("/console/mfa", status_code=303)
        if session.must_change_password and where != "/console/password" and not session.mfa_stage:
            return RedirectResponse("/console/password", status_code=303)
        return Ctx(request, self, session, who)

    def view(self, request: Request, page: Page) -> Response:
        """A page view, on a worker thread: one Read event for it."""
        ctx = self._gate(request)
        if isinstance(ctx, Response):
            return ctx
        ctx.flash = self.services.console.take_flash(ctx.session) or Flash()
        event = page.event(ctx) if callable(page.event) else page.event
        if event is None:
            return page.handler(ctx)  # type: ignore[no-any-return]
        try:
            with self.services.acting.event(
                self.surface(request), ctx.who, event, page.params(ctx)
            ):
                return page.handler(ctx)  # type: ignore[no-any-return]
        except DomainError as exc:
            return ctx.problem(exc)

    def change(self, request: Request, form: dict[str, str], page: Page) -> Response:
        """A change, on a worker thread: one event for it, then post/redirect/get."""
        ctx = self._gate(request)
        if isinstance(ctx, Response):
            return ctx
        if not hmac.compare_digest(form.get("csrf", ""), ctx.session.csrf):
            return ctx.page("problem.html", status=403, **_EXPIRED)
        ctx.form = form
        console = self.services.console
        back = page.back
        assert back is not None
        try:
            event = page.event(ctx) if callable(page.event) else page.event
            if event is None:
                done: Redirect | Response = page.handler(ctx)
            else:
                surface = self.surface(request)
                with self.services.acting.event(surface, ctx.who, event, page.params(ctx)):
                    done = page.handler(ctx)
        except DomainError as exc:
            # The flash is written after the event's scope: a write transaction inside it
            # would record the refused change as done.
            field_name = str(getattr(exc, "parameter", ""))
            console.flash(ctx.session, error=explain(exc), field=field_name, form=form)
            return RedirectResponse(back(ctx), status_code=303)
        if isinstance(done, Response):  # a page that shows what the change made, once
            return done
        if done.notice or done.created or done.form:
            console.flash(ctx.session, notice=done.notice, created=done.created, form=done.form)
        return RedirectResponse(done.to, status_code=303)
