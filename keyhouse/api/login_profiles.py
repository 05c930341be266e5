"""IMS 2019-08-15 login profiles: console sign-in for RAM users."""

from __future__ import annotations

from typing import Any

from keyhouse.api.params import Param
from keyhouse.api.routes import Routes
from keyhouse.clock import format_date
from keyhouse.domain.actions import Action
from keyhouse.domain.model import LoginProfile, Principal, User
from keyhouse.services.base import UserRef
from keyhouse.services.console import password_status
from keyhouse.services.registry import Services

IMS = "2019-08-15"
P = dict[str, Any]
ROUTES = Routes()


def _login_profile(user: User, profile: LoginProfile, domain: str) -> P:
    return {
        "UserPrincipalName": user.principal_name(domain),
        "PasswordResetRequired": profile.password_reset_required,
        "MFABindRequired": profile.mfa_bind_required,
        "Status": profile.status,
        "PasswordStatus": password_status(profile),
        "UpdateDate": format_date(profile.updated_at),
        "LastLoginTime": format_date(user.last_login_at),
        "AutoDisableLoginStatus": "disabled",
    }


PROFILE_UPN = Param("UserPrincipalName", required=True, max_length=128)
PASSWORD = Param("Password", max_length=128)
STATUS = Param("Status", choices=("Active", "Inactive"))
# CreateLoginProfile and UpdateLoginProfile take the same parameters.
PROFILE = (
    PROFILE_UPN,
    PASSWORD,
    Param("PasswordResetRequired", "bool"),
    Param("MFABindRequired", "bool"),
    STATUS,
)


@ROUTES(IMS, Action.CreateLoginProfile, "ims", *PROFILE)
def create_login_profile(svc: Services, who: Principal, p: P) -> P:
    user, profile, domain = svc.console.create_login_profile(
        who,
        UserRef.upn(p["UserPrincipalName"]),
        p["Password"] or "",
        reset_required=bool(p["PasswordResetRequired"]),
        mfa_required=bool(p["MFABindRequired"]),
        status=p["Status"] or "Active",
    )
    shown = _login_profile(user, profile, domain)
    for absent in ("LastLoginTime", "AutoDisableLoginStatus"):
        del shown[absent]
    return {"LoginProfile": shown}


@ROUTES(IMS, Action.GetLoginProfile, "ims", PROFILE_UPN)
def get_login_profile(svc: Services, who: Principal, p: P) -> P:
    user, profile, domain = svc.console.get_login_profile(who, UserRef.upn(p["UserPrincipalName"]))
    return {"LoginProfile": _login_profile(user, profile, domain)}


@ROUTES(IMS, Action.UpdateLoginProfile, "ims", *PROFILE)
def update_login_profile(svc: Services, who: Principal, p: P) -> P:
    user, profile, domain = svc.console.update_login_profile(
        who,
        UserRef.upn(p["UserPrincipalName"]),
        password=p["Password"] or None,
        reset_required=p["PasswordResetRequired"],
        mfa_required=p["MFABindRequired"],
        status=p["Status"],
    )
    shown = _login_profile(user, profile, domain)
    del shown["LastLoginTime"]
    return {"LoginProfile": shown}


@ROUTES(IMS, Action.DeleteLoginProfile, "ims", PROFILE_UPN)
def delete_login_profile(svc: Services, who: Principal, p: P) -> P:
    svc.console.delete_login_profile(who, UserRef.upn(p["UserPrincipalName"]))
    return {}
