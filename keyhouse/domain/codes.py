"""The vendor's error codes: one table from domain error codes to the vendor's code and HTTP
status, shared by every surface (the wire API, the console's events, the CLI's)."""

from __future__ import annotations

from keyhouse.domain.errors import DomainError, InvalidValue

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
    "auth.token_missing": ("MissingSecurityToken", 400),
    "auth.token_malformed": ("InvalidSecurityToken.Malformed", 400),
    "auth.token_mismatch": ("InvalidSecurityToken.MismatchWithAccessKey", 400),
    "auth.token_expired": ("InvalidSecurityToken.Expired", 400),
    "auth.access_policy_denied": ("AccessKeyId.AccessPolicyDenied", 400),
    "auth.leakage_risk": ("AccessKeyId.LeakageRisk", 403),
    "source.throttled": ("Throttling.User", 400),
    "not_found.policy": ("EntityNotExist.Policy", 404),
    "not_found.user.login_profile": ("EntityNotExist.User.LoginProfile", 404),
    "already_exists.user.login_profile": ("EntityAlreadyExists.User.LoginProfile", 409),
    "not_found.credential_report": ("EntityNotExist.CredentialReport", 404),
    "not_found.policy.version": ("EntityNotExist.Policy.Version", 404),
    "not_found.group": ("EntityNotExist.Group", 404),
    "not_found.user.policy": ("EntityNotExist.User.Policy", 404),
    "not_found.group.policy": ("EntityNotExist.Group.Policy", 404),
    "not_found.group.user": ("EntityNotExist.Group.User", 404),
    "already_exists.policy": ("EntityAlreadyExists.Policy", 409),
    "already_exists.group": ("EntityAlreadyExists.Group", 409),
    "already_exists.user.policy": ("EntityAlreadyExists.User.Policy", 409),
    "already_exists.group.policy": ("EntityAlreadyExists.Group.Policy", 409),
    "already_exists.group.user": ("EntityAlreadyExists.Group.User", 409),
    "limit_exceeded.policy": ("LimitExceeded.Policy", 409),
    "limit_exceeded.policy.version": ("LimitExceeded.Policy.Version", 409),
    "limit_exceeded.user.policy": ("LimitExceeded.User.Policy", 409),
    "limit_exceeded.group.policy": ("LimitExceeded.Group.Policy", 409),
    "limit_exceeded.user.group": ("LimitExceeded.User.Group", 409),
    "conflict.user.policy": ("DeleteConflict.User.Policy", 409),
    "conflict.user.group": ("DeleteConflict.User.Group", 409),
    "conflict.policy.user": ("DeleteConflict.Policy.User", 409),
    "conflict.policy.group": ("DeleteConflict.Policy.Group", 409),
    "conflict.policy.version": ("DeleteConflict.Policy.Version", 409),
    "conflict.policy.version.default": ("DeleteConflict.Policy.Version.Default", 409),
    "conflict.group.user": ("DeleteConflict.Group.User", 409),
    "conflict.group.policy": ("DeleteConflict.Group.Policy", 409),
    "console.busy": ("ServiceUnavailable", 503),
    "unavailable": ("ServiceUnavailable", 503),
    "malformed_policy_document": ("MalformedPolicyDocument", 400),
    "not_found.role": ("EntityNotExist.Role", 404),
    "already_exists.role": ("EntityAlreadyExists.Role", 409),
    "limit_exceeded.role": ("LimitExceeded.Role", 409),
    "not_found.service": ("EntityNotExist.Service", 404),
    "not_found.event": ("EntityNotExist.Event", 404),
    "gateway.not_configured": ("Forbidden.NotAGateway", 403),
    "gateway.no_route": ("Forbidden.NoRoute", 403),
    "already_exists.service": ("EntityAlreadyExists.Service", 409),
    "limit_exceeded.service": ("LimitExceeded.Service", 409),
    "conflict.role.policy": ("DeleteConflict.Role.Policy", 409),
    "not_found.role.policy": ("EntityNotExist.Role.Policy", 404),
    "already_exists.role.policy": ("EntityAlreadyExists.Role.Policy", 409),
    "limit_exceeded.role.policy": ("LimitExceeded.Role.Policy", 409),
    "not_found.virtual_mfa_device": ("EntityNotExist.VirtualMFADevice", 404),
    "not_found.user.mfa_device": ("EntityNotExist.User.MFADevice", 404),
    "already_exists.virtual_mfa_device": ("EntityAlreadyExists.VirtualMFADevice", 409),
    "already_exists.virtual_mfa_device.user": ("EntityAlreadyExists.VirtualMFADevice.User", 409),
    "already_exists.user.mfa_device": ("EntityAlreadyExists.User.MFADevice", 409),
    "conflict.virtual_mfa_device.user": ("DeleteConflict.VirtualMFADevice.User", 409),
    "limit_exceeded.virtual_mfa_device": ("LimitExceeded.VirtualMFADevice", 409),
    "mfa.code_refused": ("CheckAuthenticationCodeFail", 403),
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
    "AccessKeyId.AccessPolicyDenied": "Call from an address the key's network access policy "
    "allows, or change the policy (SetAccessKeyPolicy / SetAccessKeyPolicyForAccount).",
    "AccessKeyId.LeakageRisk": "Rotate the AccessKey pair: create a new one, move clients to "
    "it, then disable and delete this one.",
    "DeleteConflict.User.Policy": "Detach the user's policies first (DetachPolicyFromUser).",
    "DeleteConflict.User.Group": "Remove the user from its groups first (RemoveUserFromGroup).",
    "DeleteConflict.Policy.User": "Detach the policy from every user and group first, or "
    "delete with CascadingDelete=true.",
    "DeleteConflict.Policy.Group": "Detach the policy from every user and group first, or "
    "delete with CascadingDelete=true.",
    "DeleteConflict.Group.User": "Remove every user from the group first.",
    "DeleteConflict.Group.Policy": "Detach every policy from the group first.",
    "CheckAuthenticationCodeFail": "Give the codes the device shows now; each code is "
    "accepted once, and binding takes two consecutive codes.",
    "DeleteConflict.VirtualMFADevice.User": "Unbind the device from its user first "
    "(UnbindMFADevice).",
}


def vendor_code(error: DomainError) -> tuple[str, int]:
    if isinstance(error, InvalidValue):
        return f"InvalidParameter.{error.parameter}", 400
    return _TABLE.get(error.code, ("InternalError", 500))


def recommend(code: str) -> str:
    return _RECOMMEND.get(code, "")
