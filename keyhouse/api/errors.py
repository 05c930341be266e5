"""One table from domain error codes to the vendor's code and HTTP status."""

from __future__ import annotations

from typing import Any

from keyhouse.domain.errors import DomainError, InvalidValue, PermissionDenied
from keyhouse.domain.model import Principal

_TABLE: dict[str, tuple[str, int]] = {
    "not_found.user": ("EntityNotExist.User", 404),
    "not_found.user.access_key": ("EntityNotExist.User.AccessKey", 404),
    "not_found.account": ("EntityNotExist.Account", 404),
    "already_exists.user": ("EntityAlreadyExists.User", 409),
    "already_exists.account": ("EntityAlreadyExists.Account", 409),
    "already_exists.domain": ("EntityAlreadyExists.DefaultDomainName", 409),
    "limit_exceeded.user.access_key": ("LimitExceeded.User.AccessKey", 409),
    "limit_exceeded.user": ("LimitExceeded.User", 409),
    "conflict.access_key.active": ("DeleteConflict.AccessKey.Active", 409),
    "conflict.user.access_key": ("DeleteConflict.User.AccessKey", 409),
    "conflict.user.in_recycle_bin": ("InvalidOperation.UserInRecycleBin", 409),
    "permission_denied": ("NoPermission", 403),
    "auth.incomplete": ("IncompleteSignature", 400),
    "auth.key_not_found": ("InvalidAccessKeyId.NotFound", 404),
    "auth.key_inactive": ("InvalidAccessKeyId.Inactive", 400),
    "auth.signature_mismatch": ("SignatureDoesNotMatch", 400),
    "auth.timestamp_expired": ("InvalidTimeStamp.Expired", 400),
    "auth.timestamp_format": ("InvalidTimeStamp.Format", 400),
    "auth.nonce_used": ("SignatureNonceUsed", 400),
    "auth.signature_method": ("InvalidSignatureMethod", 400),
    "auth.security_token": ("InvalidSecurityToken.Malformed", 400),
}

_RECOMMEND: dict[str, str] = {
    "SignatureDoesNotMatch": "Sign with the AccessKey secret shown when the pair was created; "
    "compare your string-to-sign with the one in this message.",
    "InvalidTimeStamp.Expired": "Synchronise the client clock; requests must be within 15 "
    "minutes of the server time.",
    "SignatureNonceUsed": "Send a fresh random SignatureNonce with every request.",
    "InvalidAccessKeyId.Inactive": "Enable the AccessKey pair (UpdateAccessKey Status=Active) "
    "or use another one.",
    "DeleteConflict.AccessKey.Active": "Disable the pair first (UpdateAccessKey Status=Inactive).",
    "DeleteConflict.User.AccessKey": "Disable every AccessKey pair of the user first.",
    "InvalidOperation.UserInRecycleBin": "Restore the user (RestoreUserFromRecycleBin) first.",
    "LimitExceeded.User.AccessKey": "Delete an unused AccessKey pair of this owner first.",
}


def vendor_code(error: DomainError) -> tuple[str, int]:
    if isinstance(error, InvalidValue):
        return f"InvalidParameter.{error.parameter}", 400
    return _TABLE.get(error.code, ("InternalError", 500))


def recommend(code: str) -> str:
    return _RECOMMEND.get(code, "")


def access_denied_detail(error: PermissionDenied, principal: Principal | None) -> dict[str, Any]:
    return {
        "AuthAction": error.action,
        "AuthPrincipalType": "SubUser" if principal and principal.kind == "user" else "Account",
        "AuthPrincipalOwnerId": principal.account_id if principal else "",
        "AuthPrincipalDisplayName": (principal.user_name or "") if principal else "",
        "NoPermissionType": error.data.get("effect", "ImplicitDeny"),
        "PolicyType": "AccountLevelIdentityBasedPolicy",
        "Reason": error.reason,
    }
