"""The web console: server-rendered pages over the same use-cases as the API.

Every page runs as the signed-in principal (the account owner, or a RAM user under its
policies), so permissions, quotas and the audit trail are the API's own. Forms carry a CSRF
token; sessions live in the store and the cookie holds only a random token.
"""

from __future__ import annotations

import dataclasses
import hmac
import secrets
from collections.abc import Callable, MutableMapping
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from keyhouse import ids
from keyhouse.api.wire import OriginResolver, WireRequest
from keyhouse.clock import format_date
from keyhouse.domain.actions import PERMISSIONS, Action, Level
from keyhouse.domain.errors import DomainError, PermissionDenied
from keyhouse.domain.model import ConsoleSession, KeyDeletion, KeyStatus, Principal
from keyhouse.services.base import UserRef
from keyhouse.services.console import ConsoleBusy, SignInRefused
from keyhouse.services.registry import Services
from keyhouse.services.trail import parse_time

HERE = Path(__file__).parent
COOKIE = "kh_session"
SIGNIN_CSRF = "kh_signin"
PAGE = 20
T = TypeVar("T")

HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


class Refused(Exception):
    """A form was refused; the message is for the person, shown next to the form."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def _explain(error: DomainError) -> str:
    if isinstance(error, PermissionDenied):
        return (
            f"You are not allowed to do this ({error.action}). Ask an administrator for a "
            "policy that allows it."
        )
    return error.message


class ConsoleApp:
    def __init__(self, services: Services, origins: OriginResolver) -> None:
        self.services = services
        self.origins = origins
        self.templates = Jinja2Templates(directory=str(HERE / "templates"))
        self.templates.env.globals["format_date"] = format_date
        post = ["POST"]
        both = ["GET", "POST"]
        self.app = Starlette(
            routes=[
                Route("/console", self.home),
                Route("/console/", self.home),
                Route("/console/signin", self.signin, methods=["GET", "POST"]),
                Route("/console/signout", self.signout, methods=post),
                Route("/console/password", self.password, methods=["GET", "POST"]),
                Route("/console/users", self.users, methods=["GET", "POST"]),
                Route("/console/users/{name}", self.user),
                Route("/console/users/{name}/delete", self.delete_user, methods=post),
                Route("/console/users/{name}/keys", self.create_key, methods=post),
                Route("/console/users/{name}/new-key", self.new_key),
                Route("/console/users/{name}/keys/{key}/status", self.key_status, methods=post),
                Route("/console/users/{name}/keys/{key}/delete", self.delete_key, methods=post),
                Route("/console/users/{name}/bin/{key}/restore", self.restore_key, methods=post),
                Route("/console/users/{name}/bin/{key}/purge", self.purge_key, methods=post),
                Route("/console/recycle-bin", self.user_bin),
                Route("/console/recycle-bin/{user_id}/restore", self.restore_user, methods=post),
                Route("/console/recycle-bin/{user_id}/purge", self.purge_user, methods=post),
                Route(
                    "/console/recycle-bin/{user_id}/keys/{key}/restore",
                    self.restore_binned_users_key,
                    methods=post,
                ),
                Route("/console/users/{name}/keys/{key}/policy", self.key_policy, methods=both),
                Route("/console/network-policy", self.account_policy, methods=both),
                Route("/console/audit", self.audit),
                Route("/console/report", self.report, methods=both),
                Route("/console/report.csv", self.report_csv),
                Route("/console/settings", self.settings, methods=both),
                Mount(
                    "/console/static", StaticFiles(directory=str(HERE / "static")), name="static"
                ),
            ]
        )

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        async def with_headers(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(k.lower().encode(), v.encode()) for k, v in HEADERS.items()]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)

    # -- plumbing ----------------------------------------------------------------------------
    def _origin(self, request: Request) -> Any:
        client = request.client.host if request.client else ""
        raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in request.headers.items()]
        wire = WireRequest.build("GET", "/console", b"", raw, b"", client, request.url.scheme)
        return self.origins.resolve(wire)

    def _session(self, request: Request) -> tuple[ConsoleSession, Principal] | None:
        token = request.cookies.get(COOKIE)
        if not token:
            return None
        found = self.services.console.session(token)
        if found is None:
            return None
        session, principal = found
        origin = self._origin(request)
        return session, dataclasses.replace(
            principal, source_ip=origin.address, secure_transport=origin.secure
        )

    def _page(
        self, request: Request, template: str, status: int = 200, **context: Any
    ) -> HTMLResponse:
        return self.templates.TemplateResponse(request, template, context, status_code=status)

    def _show(
        self,
        request: Request,
        template: str,
        session: ConsoleSession,
        principal: Principal,
        *,
        error: str = "",
        **context: Any,
    ) -> HTMLResponse:
        """A signed-in page; 400 when it shows a refusal."""
        return self._page(
            request,
            template,
            status=400 if error else 200,
            session=session,
            who=principal,
            error=error,
            **context,
        )

    def _gate(self, request: Request) -> tuple[ConsoleSession, Principal] | Response:
        found = self._session(request)
        if found is None:
            return RedirectResponse("/console/signin", status_code=303)
        if found[0].must_change_password and request.url.path != "/console/password":
            return RedirectResponse("/console/password", status_code=303)
        return found

    async def _form(self, request: Request, session: ConsoleSession) -> dict[str, str]:
        form = {k: str(v) for k, v in (await request.form()).items()}
        if not hmac.compare_digest(form.get("csrf", ""), session.csrf):
            raise _CsrfRefused
        return form

    def _run(
        self,
        request: Request,
        principal: Principal,
        action: str,
        params: dict[str, str],
        call: Callable[[], T],
    ) -> T:
        """Run a use-case as the signed-in principal, leaving an audit event like the API's."""
        trail = self.services.audit
        origin = self._origin(request)
        draft, token = trail.begin(
            ids.request_id(), origin.address, request.headers.get("user-agent", ""), params
        )
        draft.action, draft.version, draft.service = action, "console", "Ims"
        draft.event_type = "ConsoleOperation"
        draft.rw = "Write" if PERMISSIONS[Action(action)].level is Level.WRITE else "Read"
        draft.principal = principal
        try:
            result = call()
        except DomainError as exc:
            trail.finish(draft, 400, {"Code": exc.code, "Message": exc.message})
            raise Refused(_explain(exc), getattr(exc, "parameter", "")) from exc
        except Refused as exc:
            trail.finish(draft, 400, {"Code": "Console.NotConfirmed", "Message": exc.message})
            raise
        finally:
            trail.end(token)
        trail.finish(draft, 200, {})
        return result

    async def _call(
        self,
        request: Request,
        principal: Principal,
        action: str,
        params: dict[str, str],
        call: Callable[[], T],
    ) -> T:
        """:meth:`_run` on a worker thread (the use-cases block on the store)."""
        return await _in_thread(self._run, request, principal, action, params, call)

    def _signin_event(
        self,
        request: Request,
        account_id: str,
        user: str,
        principal: Principal | None,
        refused_with: str,
    ) -> None:
        """A ConsoleSignin event: a success, or a refusal with its code (failed, throttled)."""
        trail = self.services.audit
        origin = self._origin(request)
        draft, token = trail.begin(
            ids.request_id(), origin.address, request.headers.get("user-agent", ""), {}
        )
        trail.end(token)
        draft.action, draft.service, draft.event_type = "ConsoleSignin", "Console", "ConsoleSignin"
        draft.version = "console"
        draft.principal = principal
        draft.account_id, draft.user_name = account_id, user or None
        body = {"Code": refused_with, "Message": "Sign-in refused."} if refused_with else {}
        trail.finish(draft, 401 if refused_with else 200, body)

    # -- sign-in -------------------------------------------------------------------------------
    async def home(self, request: Request) -> Response:
        return RedirectResponse("/console/users", status_code=303)

    async def signin(self, request: Request) -> Response:
        if request.method == "GET":
            token = secrets.token_urlsafe(24)
            page = self._page(request, "signin.html", csrf=token, error="", form={})
            page.set_cookie(SIGNIN_CSRF, token, httponly=True, samesite="lax", path="/console")
            return page
        form = {k: str(v) for k, v in (await request.form()).items()}
        expected = request.cookies.get(SIGNIN_CSRF, "")
        if not expected or not hmac.compare_digest(form.get("csrf", ""), expected):
            return _csrf_page(self, request)
        account, user = form.get("account", "").strip(), form.get("user", "").strip()
        origin = self._origin(request)
        try:
            signed = await _in_thread(
                self.services.console.sign_in,
                account,
                user or None,
                form.get("password", ""),
                origin.address,
            )
        except ConsoleBusy as exc:
            return self._page(
                request,
                "signin.html",
                status=503,
                csrf=expected,
                error=exc.message,
                form={"account": account, "user": user},
            )
        except SignInRefused as exc:
            code = "ConsoleSignin.Throttled" if exc.throttled else "ConsoleSignin.Failed"
            account_id = exc.data.get("account_id", "")
            await _in_thread(self._signin_event, request, account_id, user, None, code)
            page = self._page(
                request,
                "signin.html",
                status=429 if exc.throttled else 401,
                csrf=expected,
                error=exc.message,
                form={"account": account, "user": user},
            )
            return page
        await _in_thread(
            self._signin_event, request, signed.session.account_id, user, signed.principal, ""
        )
        target = "/console/password" if signed.session.must_change_password else "/console/users"
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            COOKIE,
            signed.token,
            httponly=True,
            samesite="lax",
            secure=origin.secure,
            path="/console",
            max_age=8 * 3600,
        )
        response.delete_cookie(SIGNIN_CSRF, path="/console")
        return response

    async def signout(self, request: Request) -> Response:
        found = self._session(request)
        if found is not None:
            try:
                await self._form(request, found[0])
            except _CsrfRefused:
                return _csrf_page(self, request)
            token = request.cookies.get(COOKIE, "")
            await _in_thread(self.services.console.sign_out, token)
        response = RedirectResponse("/console/signin", status_code=303)
        response.delete_cookie(COOKIE, path="/console")
        return response

    async def password(self, request: Request) -> Response:
        gate = self._gate(request)
        if isinstance(gate, Response):
            return gate
        session, principal = gate
        if request.method == "GET":
            return self._page(request, "password.html", session=session, who=principal, error="")
        try:
            form = await self._form(request, session)
        except _CsrfRefused:
            return _csrf_page(self, request)
        error = ""
        if form.get("new", "") != form.get("repeat", ""):
            error = "The two new passwords are not the same."
        else:
            try:
                await _in_thread(
                    self.services.console.change_own_password,
                    session,
                    form.get("current", ""),
                    form.get("new", ""),
                )
            except DomainError as exc:
                error = exc.message
        if error:
            return self._page(
                request, "password.html", status=400, session=session, who=principal, error=error
            )
        return RedirectResponse("/console/users", status_code=303)

    # -- users ----------------------------------------------------------------------------------
    async def users(self, request: Request) -> Response:
        gate = self._gate(request)
        if isinstance(gate, Response):
            return gate
        session, principal = gate
        error, form = "", {}
        if request.method == "POST":
            try:
                form = await self._form(request, session)
            except _CsrfRefused:
                return _csrf_page(self, request)
            name = form.get("name", "").strip()
            try:
                await self._call(
                    request,
                    principal,
                    "CreateUser",
                    {"UserName": name},
                    lambda: self.services.users.create(
                        principal,
                        UserRef.name(name),
                        form.get("display_name") or None,
                        display_name_limit=128,
                    ),
                )
                return RedirectResponse(f"/console/users/{quote(name)}", status_code=303)
            except Refused as exc:
                error = exc.message
        q = request.query_params.get("q", "").strip()
        if q.startswith("LTAI") and request.method == "GET":
            try:
                found, _ = await self._call(
                    request,
                    principal,
                    "GetUser",
                    {"UserAccessKeyId": q},
                    lambda: self.services.users.get(principal, UserRef.key(q)),
                )
                return RedirectResponse(f"/console/users/{quote(found.name)}", status_code=303)
            except Refused:
                return self._page(
                    request,
                    "users.html",
                    session=session,
                    who=principal,
                    users=[],
                    q=q,
                    error=f"No user in this account has the AccessKey {q}.",
                    form=form,
                    offset=0,
                    more=False,
                )
        try:
            everyone = await _in_thread(self._all_users, request, principal)
        except Refused as exc:
            return self._page(
                request,
                "users.html",
                status=403,
                session=session,
                who=principal,
                users=[],
                q=q,
                error=exc.message,
                form=form,
                offset=0,
                more=False,
            )
        if q:
            needle = q.lower()
            everyone = [
                u for u in everyone if needle in u.name.lower() or needle in u.display_name.lower()
            ]
        raw_offset = request.query_params.get("offset", "") or "0"
        offset = 0
        if raw_offset.isascii() and raw_offset.isdigit() and len(raw_offset) <= 9:
            offset = int(raw_offset)
        else:
            error = error or "The page offset must be a whole number."
        shown = everyone[offset : offset + PAGE]
        return self._show(
            request,
            "users.html",
            session,
            principal,
            users=shown,
            q=q,
            error=error,
            form=form,
            offset=offset,
            more=offset + PAGE < len(everyone),
        )

    def _all_users(self, request: Request, principal: Principal) -> list[Any]:
        def collect() -> list[Any]:
            found: list[Any] = []
            marker = None
            while True:
                page = self.services.users.page(principal, marker, 1000)
                found += page.users
                if not page.marker:
                    return found
                marker = page.marker

        return self._run(request, principal, "ListUsers", {}, collect)

    def _user_view(self, request: Request, principal: Principal, name: str) -> dict[str, Any]:
        svc = self.services
        ref = UserRef.name(name)
        user, domain = self._run(
            request, principal, "GetUser", {"UserName": name}, lambda: svc.users.get(principal, ref)
        )
        keys = self._run(
            request,
            principal,
            "ListAccessKeys",
            {"UserName": name},
            lambda: svc.keys.list_live(principal, ref),
        )
        binned = self._run(
            request,
            principal,
            "ListAccessKeysInRecycleBin",
            {"UserId": user.user_id},
            lambda: svc.keys.list_bin(principal, user.user_id),
        )
        view: dict[str, Any] = {"user": user, "domain": domain, "keys": keys, "binned": binned}
        view["attempts"] = {
            k.access_key_id: svc.trail.attempts(k.access_key_id, 10)
            for k in keys
            if k.status is KeyStatus.INACTIVE
        }
        for label, action, call in (
            ("groups", "ListGroupsForUser", lambda: svc.groups.for_user(principal, ref)),
            ("policies", "ListPoliciesForUser", lambda: svc.policies.for_user(principal, ref)),
        ):
            try:
                view[label] = self._run(request, principal, action, {"UserName": name}, call)
            except Refused:
                view[label] = None
        view["immediate"] = self._immediate(principal)
        return view

    async def user(
        self, request: Request, error: str = "", where: str = "", status: int = 200, **extra: Any
    ) -> Response:
        gate = self._gate(request)
        if isinstance(gate, Response):
            return gate
        session, principal = gate
        name = request.path_params["name"]
        flash = await _in_thread(self.services.console.take_flash, session)
        try:
            view = await _in_thread(self._user_view, request, principal, name)
        except Refused as exc:
            return self._page(
                request,
                "problem.html",
                status=404,
                session=session,
                who=principal,
                title=f"User {name}",
                message=exc.message,
            )
        return self._page(
            request,
            "user.html",
            status=status,
            session=session,
            who=principal,
            error=error,
            where=where,
            notice=flash.message if flash and not flash.secret else "",
            **view,
            **extra,
        )

    async def _act(
        self,
        request: Request,
        action: str,
        params: dict[str, str],
        call: Callable[[Principal, dict[str, str]], Any],
        where: str,
        done: str = "",
    ) -> Response:
        gate = self._gate(request)
        if isinstance(gate, Response):
            return gate
        session, principal = gate
        try:
            form = await self._form(request, session)
        except _CsrfRefused:
            return _csrf_page(self, request)
        try:
            await _in_thread(
                self._run, request, principal, action, params, lambda: call(principal, form)
            )
        except Refused as exc:
            return await self.user(request, error=exc.message, where=where, status=400)
        name = request.path_params["name"]
        if done:
            await _in_thread(self.services.console.flash, session, done)
        return RedirectResponse(f"/console/users/{quote(name)}", status_code=303)

    async def create_key(self, request: Request) -> Response:
        gate = self._gate(request)
        if isinstance(gate, Response):
            return gate
        session, principal = gate
        try:
            await self._form(request, session)
        except _CsrfRefused:
            return _csrf_page(self, request)
        name = request.path_params["name"]
        try:
            created = await self._call(
                request,
                principal,
                "CreateAccessKey",
                {"UserName": name},
                lambda: self.services.keys.create(principal, UserRef.name(name)),
            )
        except Refused as exc:
            return await self.user(request, error=exc.message, where="create", status=400)
        # Post/redirect/get: the secret waits, sealed, for the next page only, so that a
        # reload shows nothing again and creates nothing.
        message = f"AccessKey {created.key.access_key_id} was created."
        await _in_thread(self.services.console.flash, session, message, created)
        return RedirectResponse(f"/console/users/{quote(name)}/new-key", status_code=303)

    async def new_key(self, request: Request) -> Response:
        gate = self._gate(request)
        if isinstance(gate, Response):
            return gate
        session, principal = gate
        name = request.path_params["name"]
        flash = await _in_thread(self.services.console.take_flash, session)
        if flash is None or flash.secret is None:
            return RedirectResponse(f"/console/users/{quote(name)}", status_code=303)
        return self._page(
            request,
            "new_key.html",
            session=session,
            who=principal,
            name=name,
            key_id=flash.access_key_id,
            secret=flash.secret,
        )

    async def key_status(self, request: Request) -> Response:
        name, key = request.path_params["name"], request.path_params["key"]

        def call(principal: Principal, form: dict[str, str]) -> Any:
            status = KeyStatus.ACTIVE if form.get("status") == "Active" else KeyStatus.INACTIVE
            return self.services.keys.set_status(principal, UserRef.name(name), key, status)

        return await self._act(
            request, "UpdateAccessKey", {"UserName": name, "UserAccessKeyId": key}, call, key
        )

    async def delete_key(self, request: Request) -> Response:
        name, key = request.path_params["name"], request.path_params["key"]

        def call(principal: Principal, form: dict[str, str]) -> Any:
            if self._immediate(principal):
                if form.get("understood") != "yes":
                    raise Refused("Confirm that you understand this cannot be undone.")
            elif form.get("confirm", "").strip() != key:
                raise Refused(f"Type the AccessKey ID {key} to confirm the deletion.", "confirm")
            return self.services.keys.delete(principal, UserRef.name(name), key)

        return await self._act(
            request,
            "DeleteAccessKey",
            {"UserName": name, "UserAccessKeyId": key},
            call,
            key,
            done=f"AccessKey {key} was deleted.",
        )

    def _immediate(self, principal: Principal) -> bool:
        """Which confirmation the delete dialog asks for (the account's own setting)."""
        with self.services.store.transaction() as tx:
            account = tx.get_account(principal.account_id)
        return account is not None and account.key_deletion is KeyDeletion.IMMEDIATE

    async def restore_key(self, request: Request) -> Response:
        key = request.path_params["key"]

        def call(principal: Principal, form: dict[str, str]) -> Any:
            return self.services.keys.restore(principal, form.get("user_id") or None, key)

        return await self._act(
            request,
            "RestoreAccessKeyFromRecycleBin",
            {"UserAccessKeyId": key},
            call,
            key,
            done=f"AccessKey {key} was restored and is Active again, with its old secret.",
        )

    async def purge_key(self, request: Request) -> Response:
        key = request.path_params["key"]

        def call(principal: Principal, form: dict[str, str]) -> Any:
            if form.get("confirm", "").strip() != key:
                raise Refused(f"Type the AccessKey ID {key} to delete it permanently.", "confirm")
            return self.services.keys.purge(principal, form.get("user_id") or None, key)

        return await self._act(
            request,
            "DeleteAccessKeyInRecycleBin",
            {"UserAccessKeyId": key},
            call,
            key,
            done=f"AccessKey {key} was deleted permanently.",
        )

    async def delete_user(self, request: Request) -> Response:
        gate = self._gate(request)
        if isinstance(gate, Response):
            return gate
        session, principal = gate
        try:
            await self._form(request, session)
        except _CsrfRefused:
            return _csrf_page(self, request)
        name = request.path_params["name"]
        try:
            await self._call(
                request,
                principal,
                "DeleteUser",
                {"UserName": name},
                lambda: self.services.users.delete(principal, UserRef.name(name)),
            )
        except Refused as exc:
            return await self.user(request, error=exc.message, where="delete-user", status=400)
        message = f"User {name} was moved to the recycle bin."
        await _in_thread(self.services.console.flash, session, message)
        return RedirectResponse("/console/recycle-bin", status_code=303)

    # -- the users' recycle bin ------------------------------------------------------------
    async def user_bin(self, request: Request, error: str = "", status: int = 200) -> Response:
        gate = self._gate(request)
        if isinstance(gate, Response):
            return gate
        session, principal = gate
        flash = await _in_thread(self.services.console.take_flash, session)
        try:
            users, domain, keys = await _in_thread(self._bin_view, request, principal)
        except Refused as exc:
            users, domain, keys, error, status = [], "", {}, exc.message, 403
        return self._page(
            request,
            "bin.html",
            status=status,
            session=session,
            who=principal,
            users=users,
            domain=domain,
            keys=keys,
            error=error,
            done=flash.message if flash and not flash.secret else "",
        )

    def _bin_view(self, request: Request, principal: Principal) -> tuple[Any, str, dict[str, Any]]:
        svc = self.services
        page = self._run(
            request,
            principal,
            "ListUsersInRecycleBin",
            {},
            lambda: svc.users.list_bin(principal, None, None, 1000),
        )
        keys: dict[str, Any] = {}
        for u in page.users:
            uid = u.user_id
            keys[uid] = self._run(
                request,
                principal,
                "ListAccessKeysInRecycleBin",
                {"UserId": uid},
                lambda uid=uid: svc.keys.list_bin(principal, uid),  # type: ignore[misc]
            )
        return page.users, page.domain, keys

    async def _bin_act(
        self,
        request: Request,
        action: str,
        call: Callable[[Principal, dict[str, str], str], Any],
        done: str,
    ) -> Response:
        gate = self._gate(request)
        if isinstance(gate, Response):
            return gate
        session, principal = gate
        try:
            form = await self._form(request, session)
        except _CsrfRefused:
            return _csrf_page(self, request)
        user_id = request.path_params["user_id"]
        try:
            await self._call(
                request,
                principal,
                action,
                {"UserId": user_id},
                lambda: call(principal, form, user_id),
            )
        except Refused as exc:
            return await self.user_bin(request, error=exc.message, status=400)
        await _in_thread(self.services.console.flash, session, done)
        return RedirectResponse("/console/recycle-bin", status_code=303)

    async def restore_user(self, request: Request) -> Response:
        return await self._bin_act(
            request,
            "RestoreUserFromRecycleBin",
            lambda p, f, uid: self.services.users.restore(p, uid),
            "The user was restored. Its AccessKeys stay in the key recycle bin until restored.",
        )

    async def restore_binned_users_key(self, request: Request) -> Response:
        key = request.path_params["key"]
        return await self._bin_act(
            request,
            "RestoreAccessKeyFromRecycleBin",
            lambda p, f, uid: self.services.keys.restore(p, uid, key),
            f"AccessKey {key} was restored.",
        )

    async def purge_user(self, request: Request) -> Response:
        def call(principal: Principal, form: dict[str, str], user_id: str) -> Any:
            if form.get("confirm", "").strip() != user_id:
                raise Refused(f"Type the user ID {user_id} to delete the user permanently.")
            return self.services.users.purge(principal, user_id)

        return await self._bin_act(
            request, "DeleteUserInRecycleBin", call, "The user was deleted permanently."
        )

    # -- network access policies -------------------------------------------------------------
    async def _policy_page(
        self,
        request: Request,
        *,
        title: str,
        read: Callable[[Principal], str],
        write: Callable[[Principal, str], str],
        simulate: Callable[[Principal, str], list[dict[str, Any]]],
        actions: tuple[str, str],
        params: dict[str, str],
        back: str,
    ) -> Response:
        gate = self._gate(request)
        if isinstance(gate, Response):
            return gate
        session, principal = gate
        error, notice, refused = "", "", None
        if request.method == "POST":
            try:
                form = await self._form(request, session)
            except _CsrfRefused:
                return _csrf_page(self, request)
            document = form.get("policy", "")
            try:
                if form.get("do") == "simulate":
                    refused = await self._call(
                        request,
                        principal,
                        "LookupEvents",
                        params,
                        lambda: simulate(principal, document),
                    )
                else:
                    await self._call(
                        request,
                        principal,
                        actions[1],
                        params,
                        lambda: write(principal, document),
                    )
                    notice = "The policy was saved. It applies from the next request."
            except Refused as exc:
                error = exc.message
        else:
            try:
                document = await _in_thread(
                    self._run, request, principal, actions[0], params, lambda: read(principal)
                )
            except Refused as exc:
                return self._page(
                    request,
                    "problem.html",
                    status=403,
                    session=session,
                    who=principal,
                    title=title,
                    message=exc.message,
                )
        return self._show(
            request,
            "policy.html",
            session,
            principal,
            title=title,
            document=document,
            error=error,
            notice=notice,
            refused=refused,
            back=back,
        )

    async def key_policy(self, request: Request) -> Response:
        name, key = request.path_params["name"], request.path_params["key"]
        ref = UserRef.name(name)
        keys, trail = self.services.keys, self.services.trail

        def simulate(principal: Principal, document: str) -> list[dict[str, Any]]:
            keys.network_policy(principal, ref, key)  # may the caller look at this key at all?
            return trail.simulate(principal, key, document, 30)

        return await self._policy_page(
            request,
            title=f"Network access policy of AccessKey {key}",
            read=lambda p: keys.network_policy(p, ref, key),
            write=lambda p, d: keys.set_network_policy(p, ref, key, d),
            simulate=simulate,
            actions=("GetAccessKeyPolicy", "SetAccessKeyPolicy"),
            params={"UserName": name, "UserAccessKeyId": key},
            back=f"/console/users/{quote(name)}",
        )

    async def account_policy(self, request: Request) -> Response:
        accounts, trail = self.services.accounts, self.services.trail
        return await self._policy_page(
            request,
            title="Network access policy of the account",
            read=accounts.network_policy,
            write=accounts.set_network_policy,
            simulate=lambda p, d: trail.simulate_account(p, d, 30),
            actions=("GetAccessKeyPolicyForAccount", "SetAccessKeyPolicyForAccount"),
            params={},
            back="/console/settings",
        )

    # -- the audit trail, the credential report, settings -------------------------------------
    async def audit(self, request: Request) -> Response:
        gate = self._gate(request)
        if isinstance(gate, Response):
            return gate
        session, principal = gate
        q = request.query_params
        filters = {
            "EventAccessKeyId": q.get("key", "").strip(),
            "EventName": q.get("event", "").strip(),
            "User": q.get("user", "").strip(),
        }
        attributes = [(k, v) for k, v in filters.items() if v]
        error, events, token = "", [], ""
        try:
            start = parse_time(q["start"], "start") if q.get("start") else None
            end = parse_time(q["end"], "end") if q.get("end") else None
            page = await self._call(
                request,
                principal,
                "LookupEvents",
                dict(attributes),
                lambda: self.services.trail.lookup(
                    principal, attributes, start, end, 50, q.get("next") or None, False
                ),
            )
            events, token = page.events, page.next_token
        except (Refused, DomainError) as exc:
            error = exc.message
        return self._show(
            request,
            "audit.html",
            session,
            principal,
            events=events,
            token=token,
            q=q,
            error=error,
        )

    async def report(self, request: Request) -> Response:
        gate = self._gate(request)
        if isinstance(gate, Response):
            return gate
        session, principal = gate
        error, state = "", ""
        if request.method == "POST":
            try:
                await self._form(request, session)
            except _CsrfRefused:
                return _csrf_page(self, request)
            try:
                state = await self._call(
                    request,
                    principal,
                    "GenerateCredentialReport",
                    {},
                    lambda: self.services.reports.generate(principal),
                )
            except Refused as exc:
                error = exc.message
        generated = ""
        try:
            found = await _in_thread(self.services.reports.get, principal, 1, None)
            generated = format_date(found.generated_at)
        except DomainError:
            pass
        return self._show(
            request,
            "report.html",
            session,
            principal,
            error=error,
            state=state,
            generated=generated,
        )

    async def report_csv(self, request: Request) -> Response:
        gate = self._gate(request)
        if isinstance(gate, Response):
            return gate
        _, principal = gate
        try:
            found = await self._call(
                request,
                principal,
                "GetCredentialReport",
                {},
                lambda: self.services.reports.get(principal, 100_000, None),
            )
        except Refused as exc:
            return Response(exc.message, status_code=404, media_type="text/plain")
        return Response(
            found.content,
            media_type="text/csv",
            headers={"Content-Disposition": 'attachment; filename="credential-report.csv"'},
        )

    async def settings(self, request: Request) -> Response:
        gate = self._gate(request)
        if isinstance(gate, Response):
            return gate
        session, principal = gate
        error, notice, where = "", "", ""
        svc = self.services
        if request.method == "POST":
            try:
                form = await self._form(request, session)
            except _CsrfRefused:
                return _csrf_page(self, request)
            where = form.get("section", "")
            try:
                if where == "domain":
                    domain = form.get("domain", "").strip()
                    await self._call(
                        request,
                        principal,
                        "SetDefaultDomain",
                        {"DefaultDomainName": domain},
                        lambda: svc.accounts.set_default_domain(principal, domain),
                    )
                elif where == "deletion":
                    mode = KeyDeletion(form.get("mode", "recycle-bin"))
                    await self._call(
                        request,
                        principal,
                        "SetSecurityPreference",
                        {},
                        lambda: svc.accounts.set_key_deletion_mode(principal, mode),
                    )
                elif where == "preference":
                    allow = form.get("allow_keys") == "on"
                    await self._call(
                        request,
                        principal,
                        "SetSecurityPreference",
                        {"AllowUserToManageAccessKeys": str(allow)},
                        lambda: svc.accounts.set_security_preference(principal, allow),
                    )
                notice = "Saved."
            except (Refused, ValueError) as exc:
                error = getattr(exc, "message", "Choose one of the listed values.")
        try:
            account = await self._call(
                request,
                principal,
                "GetSecurityPreference",
                {},
                lambda: svc.accounts.security_preference(principal),
            )
        except Refused as exc:
            return self._page(
                request,
                "problem.html",
                status=403,
                session=session,
                who=principal,
                title="Settings",
                message=exc.message,
            )
        return self._show(
            request,
            "settings.html",
            session,
            principal,
            account=account,
            error=error,
            notice=notice,
            where=where,
        )


class _CsrfRefused(Exception):
    pass


def _csrf_page(console: ConsoleApp, request: Request) -> Response:
    return console._page(
        request,
        "problem.html",
        status=403,
        session=None,
        who=None,
        title="This form has expired",
        message="The form did not come from this console session (it may have expired). "
        "Go back, reload the page, and try again.",
    )


async def _in_thread(fn: Callable[..., T], *args: Any) -> T:
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(fn, *args)
