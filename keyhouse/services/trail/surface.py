"""Use-cases run for a person at the console or for the operator at the command line: one
audit event for the whole console request or command, named for what was done, with the
vendor's error code when it failed.

The wire API has its own prologue (keyhouse.api.dispatch); both go through the same
:class:`~keyhouse.services.trail.writer.AuditWriter`: a change's event is written in the
change's own transaction, any other event is committed before the caller sees the outcome.
"""

from __future__ import annotations

import getpass
import socket
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from keyhouse import ids
from keyhouse.domain.actions import Action, Command
from keyhouse.domain.audit import service_name
from keyhouse.domain.codes import vendor_code
from keyhouse.domain.errors import DomainError, Unavailable
from keyhouse.domain.model import Principal
from keyhouse.logs import note_request
from keyhouse.services.trail.committer import Outcome
from keyhouse.services.trail.draft import EventDraft
from keyhouse.services.trail.writer import AuditWriter

# The product whose API serves an action for the console and the commands: the vendor's RAM
# console calls IMS for the ram: actions (keyhouse.domain.audit.service_name).
_PRODUCTS = {"ram": "ims", "actiontrail": "actiontrail", "sts": "sts", "keyhouse": "keyhouse"}


@dataclass(frozen=True, slots=True)
class Surface:
    """Where a request came from: how its events are labelled."""

    event_type: str  # "ConsoleOperation" | "OperatorCommand"
    version: str  # the trail's apiVersion: "console" | "cli"
    source_ip: str = ""
    user_agent: str = ""


def operator(account_id: str) -> Principal:
    """The local operator acting on one account: named in the trail by the OS user and host."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container)
        user = "unknown"
    return Principal("operator", account_id, user_name=f"{user}@{socket.gethostname()}"[:64])


class Acting:
    def __init__(self, audit: AuditWriter) -> None:
        self.audit = audit

    @contextmanager
    def event(
        self,
        surface: Surface,
        principal: Principal | None,
        action: Action | Command,
        params: Mapping[str, str],
        *,
        writes: bool | None = None,
    ) -> Iterator[EventDraft]:
        """One event for what runs inside: a success, or the vendor's code of the
        :class:`DomainError` that escapes (re-raised). ``writes`` defaults to the action's
        access level (an operator command that is not a wire action must say)."""
        draft, token = self.audit.begin(
            ids.request_id(), surface.source_ip, surface.user_agent, params
        )
        if isinstance(action, Action):
            permission = action.permission
            draft.service = service_name(_PRODUCTS.get(permission.action.split(":")[0], "ims"))
            writes = permission.writes if writes is None else writes
        else:
            draft.service = "Keyhouse"
            writes = action.writes if writes is None else writes
        draft.action, draft.version, draft.event_type = (
            str(action),
            surface.version,
            surface.event_type,
        )
        draft.rw = "Write" if writes else "Read"
        draft.principal = principal
        try:
            yield draft
        except DomainError as exc:
            code, status = vendor_code(exc)
            self._finish(draft, status, {"Code": code, "Message": exc.message})
            raise
        except Exception:
            self._finish(draft, 500, {"Code": "InternalError", "Message": "Internal error."})
            raise
        else:
            self._finish(draft, 200, {})
        finally:
            self.audit.end(token)

    def _finish(self, draft: EventDraft, status: int, body: Mapping[str, str]) -> None:
        code = body.get("Code") or "OK"
        note_request(draft.request_id, draft.action, draft.principal, code, draft.source_ip)
        if self.audit.finish(draft, status, body) is not Outcome.COMMITTED:
            raise Unavailable("The audit trail could not record this; try again in a moment.")

    def sign_in(
        self,
        surface: Surface,
        account_id: str,
        user: str,
        principal: Principal | None,
        refused_with: str = "",
    ) -> None:
        """A ConsoleSignin event: a success, or a refusal with its code (failed, throttled)."""
        draft, token = self.audit.begin(ids.request_id(), surface.source_ip, surface.user_agent, {})
        self.audit.end(token)
        draft.action, draft.service, draft.event_type = "ConsoleSignin", "Console", "ConsoleSignin"
        draft.version = surface.version
        draft.principal = principal
        draft.account_id, draft.user_name = account_id, user or None
        body = {"Code": refused_with, "Message": "Sign-in refused."} if refused_with else {}
        self._finish(draft, 401 if refused_with else 200, body)
