"""The wire API's error details (the code table itself is keyhouse.domain.codes)."""

from __future__ import annotations

from typing import Any

from keyhouse.domain.codes import recommend, vendor_code
from keyhouse.domain.errors import PermissionDenied
from keyhouse.domain.model import Principal

__all__ = ["access_denied_detail", "recommend", "vendor_code"]


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
