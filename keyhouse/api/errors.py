"""How the wire API answers a refusal: one table from exception type to answer.

The code table itself (domain error -> vendor code and status) is keyhouse.domain.codes; here
each kind of exception a request can end with gets its answer: the vendor's envelope (``Code``,
``Message``, ``RequestId``, ``HostId``, ``Recommend``) with the right status, and for a
permission refusal the ``AccessDeniedDetail`` the SDKs show. :func:`refusal` looks an
exception's classes up from the most specific (as starlette's ExceptionMiddleware does), so a
subclass may have an answer of its own. What no entry answers is not a refusal: the dispatcher
reports it (503 when the store is away, else 500, logged).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from keyhouse.api.params import WireError
from keyhouse.crypto import MasterKeyError
from keyhouse.domain.codes import recommend, vendor_code
from keyhouse.domain.errors import DomainError, PermissionDenied
from keyhouse.domain.model import Principal

__all__ = ["BUSY", "INTERNAL", "Refused", "envelope", "recommend", "refusal", "vendor_code"]

log = logging.getLogger("keyhouse.request")

BUSY = "The request cannot be recorded now (the store is unavailable); try again later."
INTERNAL = "The request processing has failed due to some unknown error."

Answer = tuple[int, dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Refused:
    """What an answer to a refusal may use besides the exception."""

    request_id: str
    host: str
    principal: Principal | None


def envelope(refused: Refused, code: str, message: str) -> dict[str, Any]:
    return {
        "RequestId": refused.request_id,
        "HostId": refused.host,
        "Code": code,
        "Message": message,
        "Recommend": recommend(code),
    }


def _wire(exc: Exception, refused: Refused) -> Answer:
    assert isinstance(exc, WireError)
    return exc.status, envelope(refused, exc.code, exc.message)


def _no_permission(exc: Exception, refused: Refused) -> Answer:
    assert isinstance(exc, PermissionDenied)
    body = envelope(refused, "NoPermission", exc.message)
    body["AccessDeniedDetail"] = access_denied_detail(exc, refused.principal)
    return 403, body


def _domain(exc: Exception, refused: Refused) -> Answer:
    assert isinstance(exc, DomainError)
    code, status = vendor_code(exc)
    return status, envelope(refused, code, exc.message)


def _master_key(exc: Exception, refused: Refused) -> Answer:
    log.exception("the master key cannot open a stored secret")
    return 500, envelope(refused, "InternalError", INTERNAL)


_ANSWERS: dict[type[Exception], Callable[[Exception, Refused], Answer]] = {
    WireError: _wire,
    PermissionDenied: _no_permission,
    DomainError: _domain,
    MasterKeyError: _master_key,
}


def refusal(exc: Exception, refused: Refused) -> Answer | None:
    """The answer to ``exc``, from the entry of its most specific class; None: no entry."""
    for cls in type(exc).__mro__:
        answer = _ANSWERS.get(cls)
        if answer is not None:
            return answer(exc, refused)
    return None


def access_denied_detail(error: PermissionDenied, principal: Principal | None) -> dict[str, Any]:
    return {
        "AuthAction": error.action,
        "AuthPrincipalType": "SubUser" if principal and principal.kind == "user" else "Account",
        "AuthPrincipalOwnerId": principal.account_id if principal else "",
        "AuthPrincipalDisplayName": (principal.user_name or "") if principal else "",
        "NoPermissionType": error.data.get("effect", "ImplicitDeny"),
        "PolicyType": "AccountLevelIdentityBasedPolicy"
        if error.data.get("effect") == "ExplicitDeny"
        else "",
        "Reason": error.reason,
    }
