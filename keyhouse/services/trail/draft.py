"""An event while its request is served: the draft, and the row it becomes.

Every request (an API call, a console page, an operator's command) has one draft, set for the
request's duration in a context variable by :class:`keyhouse.services.trail.writer.AuditWriter`.
Use-cases do not receive it as an argument: they add to the current one, if any, with
:func:`annotate` (response elements, such as the pair a change created) and :func:`concerns`
(the account an operator's command turned out to act on). Outside a request both do nothing,
so a use-case runs the same under a test, the CLI or a server.
"""

from __future__ import annotations

import dataclasses
import json
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from keyhouse import ids
from keyhouse.clock import format_date
from keyhouse.domain import audit
from keyhouse.domain.model import Principal
from keyhouse.services.authn import NonceClaim

CURRENT: ContextVar[EventDraft | None] = ContextVar("keyhouse_audit_event", default=None)


@dataclass
class EventDraft:
    """What is known about a request's event while the request is served."""

    event_id: str
    at: datetime
    request_id: str
    source_ip: str
    user_agent: str
    parameters: dict[str, str]
    action: str = ""
    version: str = ""
    service: str = ""
    rw: str = "Read"
    principal: Principal | None = None
    # For refusals before a principal exists: the account and user of the AccessKey used.
    account_id: str = ""
    user_name: str | None = None
    user_id: str | None = None
    access_key_id: str | None = None
    annotations: dict[str, Any] = field(default_factory=dict)
    written: bool = False
    event_type: str = "ApiCall"  # "ConsoleOperation", "ConsoleSignin"
    truncated: bool = False  # some request parameters were left out of the event
    record: bool = True  # False with the trail switched off: only the nonce is kept
    nonce: NonceClaim | None = None  # spent when the request's durable parts commit
    # (AccessKey ID, when, service) of an authenticated request: written with its nonce.
    last_used: tuple[str, datetime, str] | None = None


def annotate(**fields: Any) -> None:
    """Add response elements to the current request's event (no-op outside a request)."""
    draft = CURRENT.get()
    if draft is not None:
        draft.annotations.update(fields)


def concerns(account_id: str) -> None:
    """The current event belongs to this account's trail: for an operator's command that
    named no account because it creates one (no-op otherwise)."""
    draft = CURRENT.get()
    if draft is not None and draft.principal is not None and not draft.principal.account_id:
        draft.principal = dataclasses.replace(draft.principal, account_id=account_id)


def _identity(d: EventDraft) -> dict[str, Any]:
    p = d.principal
    if p is not None and p.session is not None:
        s = p.session
        return {
            "type": "AssumedRoleUser",
            "principalId": s.principal_id,
            "accountId": p.account_id,
            "accessKeyId": p.access_key_id,
            "userName": f"{s.role_name}:{s.name}",
            "arn": s.arn(p.account_id),
            "sessionContext": {
                "roleId": s.role_id,
                "roleName": s.role_name,
                "sessionName": s.name,
                "sourceAccountId": s.source_account_id,
                "sourceIdentity": s.source_name,
                "sourceAccessKeyId": s.source_access_key_id,
            },
        }
    if p is not None:
        kind = "root-account" if p.is_root else "operator" if p.is_operator else "ram-user"
        return {
            "type": kind,
            "principalId": "operator" if p.is_operator else p.user_id or p.account_id,
            "accountId": p.account_id,
            "accessKeyId": p.access_key_id,
            "userName": p.user_name or "root",
        }
    return {
        "type": ("ram-user" if d.user_id else "root-account") if d.account_id else "unknown",
        "principalId": d.user_id or d.account_id,
        "accountId": d.account_id,
        "accessKeyId": d.access_key_id,
        "userName": d.user_name or ("root" if d.account_id else ""),
    }


def build_row(
    d: EventDraft, error_code: str | None, error_message: str | None, response: Any
) -> tuple[str, dict[str, Any]]:
    """(account id, audit_events columns) of the finished event."""
    identity = _identity(d)
    identity["accessKeyId"] = _column(identity["accessKeyId"], 32)
    identity["userName"] = audit.storable(identity["userName"] or "", 64)
    account_id = identity["accountId"] or ""
    response = audit.scrub(response) if response else None
    action = audit.storable(d.action, 64)
    event: dict[str, Any] = {
        "eventId": d.event_id,
        "eventVersion": "1",
        "eventType": d.event_type,
        "eventTime": format_date(d.at),
        "eventName": action,
        "eventRW": d.rw,
        "serviceName": d.service,
        "apiVersion": audit.storable(d.version, 32),
        "acsRegion": "",
        "requestId": d.request_id,
        "sourceIpAddress": audit.storable(d.source_ip, 64),
        "userAgent": d.user_agent,
        "userIdentity": identity,
        "requestParameters": d.parameters,
        "responseElements": response,
        "errorCode": _column(error_code, 128),
        "errorMessage": audit.cut(error_message, audit.MAX_MESSAGE_LENGTH)
        if error_message
        else error_message,
        "recipientAccountId": account_id,
    }
    if d.truncated:
        event["additionalEventData"] = {"requestParametersTruncated": True}
    names = audit.resources(d.parameters, response if isinstance(response, dict) else None)
    resources = audit.cut_bytes(
        " ".join(audit.storable(n, 256) for n in names), audit.MAX_RESOURCES_BYTES - 2
    )
    return account_id, {
        "event_id": d.event_id,
        "event_time": d.at,
        "event_name": action,
        "event_rw": d.rw,
        "service_name": audit.storable(d.service, 32),
        "access_key_id": identity["accessKeyId"],
        "user_name": identity["userName"] or None,
        "source_ip": audit.storable(d.source_ip, 64),
        "error_code": event["errorCode"],
        "resources": f" {resources} " if resources else "",
        "body": audit.storable(audit.bounded_body(event)),
    }


def _column(value: str | None, length: int) -> str | None:
    return audit.storable(value, length) if value else value


def system_row(
    account_id: str, name: str, at: datetime, parameters: dict[str, str], names: list[str]
) -> dict[str, Any]:
    """An event Keyhouse itself caused (the retention sweep), for the account's trail;
    ``names`` are the resources it concerns (what LookupEvents' ResourceName and whois find)."""
    draft = EventDraft(
        event_id=ids.event_id(),
        at=at,
        request_id="",
        source_ip="",
        user_agent="keyhouse",
        parameters=parameters,
        action=name,
        service="Ims",
        rw="Write",
        account_id=account_id,
        user_name="keyhouse-retention-sweep",
    )
    _, row = build_row(draft, None, None, None)
    body = json.loads(row["body"])
    body["userIdentity"]["type"] = "system"
    row["body"] = audit.canonical(body)
    row["resources"] = " " + " ".join(sorted(set(names))) + " " if names else ""
    return row
