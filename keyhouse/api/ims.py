"""IMS 2019-08-15 handlers: users by principal name or ID, AccessKeys, both recycle bins."""

from __future__ import annotations

from typing import Any

from keyhouse.api import render
from keyhouse.api.params import Param, invalid, missing
from keyhouse.api.routes import Routes
from keyhouse.clock import format_date
from keyhouse.domain.actions import Action
from keyhouse.domain.model import Account, KeyStatus, Principal
from keyhouse.services.base import UserRef
from keyhouse.services.registry import Services
from keyhouse.services.users import UserChanges

V = "2019-08-15"
ROUTES = Routes()
UPN = Param("UserPrincipalName", max_length=128)
USER_ID = Param("UserId", max_length=64)
KEY_ID = Param("UserAccessKeyId", required=True, max_length=64)
STATUS = Param("Status", required=True, choices=("Active", "Inactive"))
P = dict[str, Any]


def _ref(p: P, *, with_key: bool = False) -> UserRef:
    """Exactly one of UserPrincipalName / UserId (/ UserAccessKeyId) names the user."""
    given = [n for n in ("UserPrincipalName", "UserId", "UserAccessKeyId") if p.get(n) is not None]
    if not given:
        raise missing("UserPrincipalName")
    if len(given) > 1:
        raise invalid(given[1], f"give only one of {' / '.join(given)}.")
    name = given[0]
    if name == "UserPrincipalName":
        return UserRef.upn(p[name])
    if name == "UserId":
        return UserRef.id(p[name])
    if not with_key:
        raise missing("UserPrincipalName")
    return UserRef.key(p[name])


def owner(p: P) -> UserRef | None:
    return UserRef.upn(p["UserPrincipalName"]) if p.get("UserPrincipalName") else None


@ROUTES(V, Action.GetDefaultDomain, "ims")
def get_default_domain(svc: Services, who: Principal, p: P) -> P:
    return {"DefaultDomainName": svc.accounts.default_domain(who)}


@ROUTES(
    V, Action.SetDefaultDomain, "ims", Param("DefaultDomainName", required=True, max_length=128)
)
def set_default_domain(svc: Services, who: Principal, p: P) -> P:
    return {"DefaultDomainName": svc.accounts.set_default_domain(who, p["DefaultDomainName"])}


@ROUTES(
    V,
    Action.CreateUser,
    "ims",
    Param("UserPrincipalName", required=True, max_length=128),
    Param("DisplayName", required=True),
    Param("Comments"),
    Param("Email", max_length=128),
    Param("MobilePhone", max_length=32),
    Param("Tag", kind="tags"),
)
def create_user(svc: Services, who: Principal, p: P) -> P:
    user, domain = svc.users.create(
        who,
        UserRef.upn(p["UserPrincipalName"]),
        p["DisplayName"],
        comments=p["Comments"] or "",
        email=p["Email"] or "",
        mobile_phone=p["MobilePhone"] or "",
        tags=p["Tag"],
        display_name_limit=24,
    )
    shown = render.ims_user(user, domain)
    return {"User": shown}


@ROUTES(V, Action.GetUser, "ims", UPN, USER_ID, Param("UserAccessKeyId", max_length=64))
def get_user(svc: Services, who: Principal, p: P) -> P:
    user, domain = svc.users.get(who, _ref(p, with_key=True))
    return {"User": render.ims_user(user, domain, with_name=True)}


@ROUTES(
    V,
    Action.UpdateUser,
    "ims",
    UPN,
    USER_ID,
    Param("NewUserPrincipalName", max_length=128),
    Param("NewDisplayName"),
    Param("NewComments"),
    Param("NewEmail", max_length=128),
    Param("NewMobilePhone", max_length=32),
)
def update_user(svc: Services, who: Principal, p: P) -> P:
    new_upn = p["NewUserPrincipalName"]
    changes = UserChanges(
        new_name=UserRef.upn(new_upn, "NewUserPrincipalName") if new_upn else None,
        display_name=p["NewDisplayName"],
        comments=p["NewComments"],
        email=p["NewEmail"],
        mobile_phone=p["NewMobilePhone"],
    )
    user, domain = svc.users.update(who, _ref(p), changes, display_name_limit=24)
    shown = render.ims_user(user, domain)
    del shown["Tags"]
    return {"User": shown}


@ROUTES(
    V,
    Action.ListUsers,
    "ims",
    Param("Marker", max_length=512),
    Param("MaxItems", kind="int", minimum=1, maximum=1000),
    Param("Status", choices=("active", "freeze", "active,freeze", "freeze,active")),
    Param("Tag", kind="tags"),
)
def list_users(svc: Services, who: Principal, p: P) -> P:
    if p["Status"] == "freeze":
        return {"IsTruncated": False, "Marker": "", "Users": {"User": []}}
    page = svc.users.page(who, p["Marker"], p["MaxItems"] or 1000, p["Tag"])
    return {
        "IsTruncated": bool(page.marker),
        "Marker": page.marker,
        "Users": {"User": [render.ims_user(u, page.domain, with_status=True) for u in page.users]},
    }


@ROUTES(V, Action.DeleteUser, "ims", UPN, USER_ID)
def delete_user(svc: Services, who: Principal, p: P) -> P:
    svc.users.delete(who, _ref(p))
    return {}


@ROUTES(
    V,
    Action.ListUsersInRecycleBin,
    "ims",
    Param("Filter", max_length=256),
    Param("Marker", max_length=512),
    Param("MaxItems", kind="int", minimum=1, maximum=100),
)
def list_users_in_bin(svc: Services, who: Principal, p: P) -> P:
    name = None
    if p["Filter"] is not None:
        field, _, value = p["Filter"].strip().partition(" eq ")
        if field.strip() != "UserPrincipalName" or not value.strip():
            raise invalid("Filter", "the only supported form is 'UserPrincipalName eq <name>'.")
        name = value.strip().strip("'\"")
    page = svc.users.list_bin(who, name, p["Marker"], p["MaxItems"] or 100)
    return {
        "IsTruncated": bool(page.marker),
        "Marker": page.marker,
        "Users": {"User": [render.binned_user(u, page.domain) for u in page.users]},
    }


@ROUTES(V, Action.GetUserInRecycleBin, "ims", USER_ID, Param("UserAccessKeyId", max_length=64))
def get_user_in_bin(svc: Services, who: Principal, p: P) -> P:
    if p["UserId"] is None and p["UserAccessKeyId"] is None:
        raise missing("UserId")
    ref = UserRef.id(p["UserId"]) if p["UserId"] else UserRef.key(p["UserAccessKeyId"])
    user, domain = svc.users.get_in_bin(who, ref)
    return {"User": render.binned_user(user, domain)}


@ROUTES(V, Action.RestoreUserFromRecycleBin, "ims", Param("UserId", required=True, max_length=64))
def restore_user(svc: Services, who: Principal, p: P) -> P:
    svc.users.restore(who, p["UserId"])
    return {}


@ROUTES(V, Action.DeleteUserInRecycleBin, "ims", Param("UserId", required=True, max_length=64))
def purge_user(svc: Services, who: Principal, p: P) -> P:
    svc.users.purge(who, p["UserId"])
    return {}


@ROUTES(V, Action.CreateAccessKey, "ims", UPN)
def create_access_key(svc: Services, who: Principal, p: P) -> P:
    created = svc.keys.create(who, owner(p))
    shown = render.key(created.key, with_update=False)
    shown["AccessKeySecret"] = created.secret
    return {"AccessKey": shown}


@ROUTES(V, Action.UpdateAccessKey, "ims", KEY_ID, STATUS, UPN)
def update_access_key(svc: Services, who: Principal, p: P) -> P:
    svc.keys.set_status(who, owner(p), p["UserAccessKeyId"], KeyStatus(p["Status"]))
    return {}


@ROUTES(V, Action.DeleteAccessKey, "ims", KEY_ID, UPN)
def delete_access_key(svc: Services, who: Principal, p: P) -> P:
    svc.keys.delete(who, owner(p), p["UserAccessKeyId"])
    return {}


@ROUTES(V, Action.ListAccessKeys, "ims", UPN)
def list_access_keys(svc: Services, who: Principal, p: P) -> P:
    keys = svc.keys.list_live(who, owner(p))
    return {"AccessKeys": {"AccessKey": [render.key(k, with_update=True) for k in keys]}}


@ROUTES(V, Action.GetAccessKeyLastUsed, "ims", KEY_ID, UPN)
def get_access_key_last_used(svc: Services, who: Principal, p: P) -> P:
    key = svc.keys.last_used(who, owner(p), p["UserAccessKeyId"])
    return {
        "AccessKeyLastUsed": {
            "LastUsedDate": format_date(key.last_used_at),
            "ServiceName": key.last_used_service,
        }
    }


@ROUTES(V, Action.ListAccessKeysInRecycleBin, "ims", USER_ID)
def list_access_keys_in_bin(svc: Services, who: Principal, p: P) -> P:
    keys = svc.keys.list_bin(who, p["UserId"])
    return {"AccessKeys": {"AccessKey": [render.binned_key(k) for k in keys]}}


@ROUTES(V, Action.GetAccessKeyInfoInRecycleBin, "ims", KEY_ID)
def get_access_key_in_bin(svc: Services, who: Principal, p: P) -> P:
    found = svc.keys.get_in_bin(who, p["UserAccessKeyId"])
    shown = render.binned_key(found.key)
    if found.user is None:
        shown.update(UserId=found.key.account_id, UserPrincipalName="", UserRecycled=False)
    else:
        shown.update(
            UserId=found.user.user_id,
            UserPrincipalName=found.user.principal_name(found.domain),
            UserRecycled=found.user.in_bin,
        )
    return {"AccessKey": shown}


@ROUTES(V, Action.RestoreAccessKeyFromRecycleBin, "ims", KEY_ID, USER_ID)
def restore_access_key(svc: Services, who: Principal, p: P) -> P:
    svc.keys.restore(who, p["UserId"], p["UserAccessKeyId"])
    return {}


@ROUTES(V, Action.DeleteAccessKeyInRecycleBin, "ims", KEY_ID, USER_ID)
def purge_access_key(svc: Services, who: Principal, p: P) -> P:
    svc.keys.purge(who, p["UserId"], p["UserAccessKeyId"])
    return {}


# -- security preference -------------------------------------------------------------
def _preference(account: Account) -> P:
    return {
        "SecurityPreference": {
            "AccessKeyPreference": {
                "AllowUserToManageAccessKeys": account.allow_user_manage_keys,
                "AllowUserToManageServiceCredentials": False,
            },
            "LoginProfilePreference": {
                "AllowUserToChangePassword": True,
                "AllowUserToLoginWithPasskey": False,
                "EnableSaveMFATicket": False,
                "LoginNetworkMasks": "",
                "LoginSessionDuration": 8,
                "MFAOperationForLogin": account.mfa_for_login,
                "OperationForRiskLogin": "autonomous",
            },
            "MFAPreference": {"AllowUserToManageMFADevices": account.allow_user_manage_mfa},
            "MaxIdleDays": {"MaxIdleDaysForAccessKeys": 730, "MaxIdleDaysForUsers": 730},
            "PersonalInfoPreference": {"AllowUserToManagePersonalDingTalk": False},
            "VerificationPreference": {"VerificationTypes": []},
        }
    }


@ROUTES(V, Action.GetSecurityPreference, "ims")
def get_security_preference(svc: Services, who: Principal, p: P) -> P:
    return _preference(svc.accounts.security_preference(who))


@ROUTES(
    V,
    Action.SetSecurityPreference,
    "ims",
    Param("AllowUserToManageAccessKeys", "bool"),
    Param("AllowUserToManageMFADevices", "bool"),
    # "adaptive" (MFA only for a risky sign-in) needs risk signals Keyhouse does not have.
    Param("MFAOperationForLogin", choices=("mandatory", "independent")),
)
def set_security_preference(svc: Services, who: Principal, p: P) -> P:
    account = svc.accounts.set_security_preference(
        who,
        p["AllowUserToManageAccessKeys"],
        allow_user_manage_mfa=p["AllowUserToManageMFADevices"],
        mfa_for_login=p["MFAOperationForLogin"],
    )
    return _preference(account)
