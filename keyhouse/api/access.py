"""Access-control handlers: RAM 2015-05-01 policies and groups; IMS 2019-08-15 security
preference and AccessKey network access policies."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from keyhouse.api.ims import KEY_ID, UPN, _owner
from keyhouse.api.params import Param
from keyhouse.api.routes import route
from keyhouse.clock import format_date
from keyhouse.domain.model import Group, LoginProfile, PolicyVersion, Principal, User
from keyhouse.services.base import UserRef
from keyhouse.services.console import password_status
from keyhouse.services.policies import Attached, PolicyView
from keyhouse.services.registry import Services

RAM = "2015-05-01"
IMS = "2019-08-15"
P = dict[str, Any]

POLICY_NAME = Param("PolicyName", required=True, max_length=128)
POLICY_TYPE = Param("PolicyType", required=True, max_length=16)
DOCUMENT = Param("PolicyDocument", required=True)
VERSION_ID = Param("VersionId", required=True, max_length=16)
USER_NAME = Param("UserName", required=True, max_length=64)
GROUP_NAME = Param("GroupName", required=True, max_length=64)
MARKER = Param("Marker", max_length=256)
MAX_ITEMS = Param("MaxItems", "int", minimum=1, maximum=1000)
RESOURCE_GROUP = Param("ResourceGroupId", max_length=64)  # accepted, not used: no resource groups


def _date(at: datetime | None) -> str:
    return format_date(at) if at is not None and at != datetime.min else ""


def _policy(view: PolicyView, *, document: bool = False, count: bool = True) -> P:
    shown: P = {
        "PolicyName": view.name,
        "PolicyType": view.type,
        "Description": view.description,
        "DefaultVersion": view.default_version,
        "CreateDate": _date(view.created_at),
        "UpdateDate": _date(view.updated_at),
    }
    if count:
        shown["AttachmentCount"] = view.attachment_count
    if document:
        shown["PolicyDocument"] = view.document
    return shown


def _version(version: PolicyVersion) -> P:
    return {
        "VersionId": version.version_id,
        "IsDefaultVersion": version.is_default,
        "PolicyDocument": version.document,
        "CreateDate": _date(version.created_at),
    }


def _attached(found: list[Attached]) -> P:
    return {
        "Policies": {
            "Policy": [
                {
                    "PolicyName": a.view.name,
                    "PolicyType": a.view.type,
                    "Description": a.view.description,
                    "DefaultVersion": a.view.default_version,
                    "AttachDate": format_date(a.attached_at),
                }
                for a in found
            ]
        }
    }


def _group(group: Group) -> P:
    return {
        "GroupId": group.group_id,
        "GroupName": group.name,
        "Comments": group.comments,
        "CreateDate": format_date(group.created_at),
        "UpdateDate": format_date(group.updated_at),
    }


def _max(p: P) -> int:
    return int(p["MaxItems"] or 100)


# -- policies -----------------------------------------------------------------------------
@route(RAM, "CreatePolicy", "ram", POLICY_NAME, DOCUMENT, Param("Description"))
def create_policy(svc: Services, who: Principal, p: P) -> P:
    view = svc.policies.create(who, p["PolicyName"], p["PolicyDocument"], p["Description"] or "")
    shown = _policy(view, count=False)
    del shown["UpdateDate"]
    return {"Policy": shown}


@route(RAM, "GetPolicy", "ram", POLICY_NAME, POLICY_TYPE)
def get_policy(svc: Services, who: Principal, p: P) -> P:
    view = svc.policies.get(who, p["PolicyType"], p["PolicyName"])
    return {
        "Policy": _policy(view, document=True),
        "DefaultPolicyVersion": {
            "VersionId": view.default_version,
            "IsDefaultVersion": True,
            "PolicyDocument": view.document,
            "CreateDate": _date(view.updated_at),
        },
    }


@route(RAM, "DeletePolicy", "ram", POLICY_NAME, Param("CascadingDelete", "bool"))
def delete_policy(svc: Services, who: Principal, p: P) -> P:
    svc.policies.delete(who, p["PolicyName"], cascade=bool(p["CascadingDelete"]))
    return {}


@route(RAM, "ListPolicies", "ram", Param("PolicyType", max_length=16), MARKER, MAX_ITEMS)
def list_policies(svc: Services, who: Principal, p: P) -> P:
    page, marker = svc.policies.page(who, p["PolicyType"], p["Marker"], _max(p))
    shown: P = {"Policies": {"Policy": [_policy(v) for v in page]}, "IsTruncated": bool(marker)}
    if marker:
        shown["Marker"] = marker
    return shown


@route(
    RAM,
    "CreatePolicyVersion",
    "ram",
    POLICY_NAME,
    DOCUMENT,
    Param("SetAsDefault", "bool"),
    Param("RotateStrategy", choices=("None", "DeleteOldestNonDefaultVersionWhenLimitExceeded")),
)
def create_policy_version(svc: Services, who: Principal, p: P) -> P:
    version = svc.policies.create_version(
        who,
        p["PolicyName"],
        p["PolicyDocument"],
        set_default=bool(p["SetAsDefault"]),
        rotate=p["RotateStrategy"] == "DeleteOldestNonDefaultVersionWhenLimitExceeded",
    )
    return {"PolicyVersion": _version(version)}


@route(RAM, "GetPolicyVersion", "ram", POLICY_NAME, POLICY_TYPE, VERSION_ID)
def get_policy_version(svc: Services, who: Principal, p: P) -> P:
    version = svc.policies.get_version(who, p["PolicyType"], p["PolicyName"], p["VersionId"])
    return {"PolicyVersion": _version(version)}


@route(RAM, "ListPolicyVersions", "ram", POLICY_NAME, POLICY_TYPE)
def list_policy_versions(svc: Services, who: Principal, p: P) -> P:
    versions = svc.policies.list_versions(who, p["PolicyType"], p["PolicyName"])
    return {"PolicyVersions": {"PolicyVersion": [_version(v) for v in versions]}}


@route(RAM, "SetDefaultPolicyVersion", "ram", POLICY_NAME, VERSION_ID)
def set_default_policy_version(svc: Services, who: Principal, p: P) -> P:
    svc.policies.set_default_version(who, p["PolicyName"], p["VersionId"])
    return {}


@route(RAM, "DeletePolicyVersion", "ram", POLICY_NAME, VERSION_ID)
def delete_policy_version(svc: Services, who: Principal, p: P) -> P:
    svc.policies.delete_version(who, p["PolicyName"], p["VersionId"])
    return {}


@route(RAM, "AttachPolicyToUser", "ram", POLICY_NAME, POLICY_TYPE, USER_NAME, RESOURCE_GROUP)
def attach_policy_to_user(svc: Services, who: Principal, p: P) -> P:
    ref = UserRef.name(p["UserName"])
    svc.policies.attach_to_user(who, ref, p["PolicyType"], p["PolicyName"])
    return {}


@route(RAM, "DetachPolicyFromUser", "ram", POLICY_NAME, POLICY_TYPE, USER_NAME, RESOURCE_GROUP)
def detach_policy_from_user(svc: Services, who: Principal, p: P) -> P:
    ref = UserRef.name(p["UserName"])
    svc.policies.detach_from_user(who, ref, p["PolicyType"], p["PolicyName"])
    return {}


@route(RAM, "ListPoliciesForUser", "ram", USER_NAME)
def list_policies_for_user(svc: Services, who: Principal, p: P) -> P:
    return _attached(svc.policies.for_user(who, UserRef.name(p["UserName"])))


@route(RAM, "ListEntitiesForPolicy", "ram", POLICY_NAME, POLICY_TYPE)
def list_entities_for_policy(svc: Services, who: Principal, p: P) -> P:
    found = svc.policies.entities(who, p["PolicyType"], p["PolicyName"])
    return {
        "Users": {
            "User": [
                {
                    "UserId": u.user_id,
                    "UserName": u.name,
                    "DisplayName": u.display_name,
                    "AttachDate": format_date(at),
                }
                for u, at in found.users
            ]
        },
        "Groups": {
            "Group": [
                {"GroupName": g.name, "Comments": g.comments, "AttachDate": format_date(at)}
                for g, at in found.groups
            ]
        },
        "Roles": {"Role": []},
    }


# -- groups -------------------------------------------------------------------------------
@route(RAM, "CreateGroup", "ram", GROUP_NAME, Param("Comments"))
def create_group(svc: Services, who: Principal, p: P) -> P:
    group = svc.groups.create(who, p["GroupName"], p["Comments"] or "")
    shown = _group(group)
    del shown["UpdateDate"]
    return {"Group": shown}


@route(RAM, "GetGroup", "ram", GROUP_NAME)
def get_group(svc: Services, who: Principal, p: P) -> P:
    return {"Group": _group(svc.groups.get(who, p["GroupName"]))}


@route(
    RAM,
    "UpdateGroup",
    "ram",
    GROUP_NAME,
    Param("NewGroupName", max_length=64),
    Param("NewComments"),
)
def update_group(svc: Services, who: Principal, p: P) -> P:
    group = svc.groups.update(who, p["GroupName"], p["NewGroupName"], p["NewComments"])
    return {"Group": _group(group)}


@route(RAM, "ListGroups", "ram", MARKER, MAX_ITEMS)
def list_groups(svc: Services, who: Principal, p: P) -> P:
    page, marker = svc.groups.page(who, p["Marker"], _max(p))
    shown: P = {"Groups": {"Group": [_group(g) for g in page]}, "IsTruncated": bool(marker)}
    if marker:
        shown["Marker"] = marker
    return shown


@route(RAM, "DeleteGroup", "ram", GROUP_NAME)
def delete_group(svc: Services, who: Principal, p: P) -> P:
    svc.groups.delete(who, p["GroupName"])
    return {}


@route(RAM, "AddUserToGroup", "ram", GROUP_NAME, USER_NAME)
def add_user_to_group(svc: Services, who: Principal, p: P) -> P:
    svc.groups.add_user(who, p["GroupName"], UserRef.name(p["UserName"]))
    return {}


@route(RAM, "RemoveUserFromGroup", "ram", GROUP_NAME, USER_NAME)
def remove_user_from_group(svc: Services, who: Principal, p: P) -> P:
    svc.groups.remove_user(who, p["GroupName"], UserRef.name(p["UserName"]))
    return {}


@route(RAM, "ListGroupsForUser", "ram", USER_NAME)
def list_groups_for_user(svc: Services, who: Principal, p: P) -> P:
    found = svc.groups.for_user(who, UserRef.name(p["UserName"]))
    return {
        "Groups": {
            "Group": [
                {
                    "GroupId": g.group_id,
                    "GroupName": g.name,
                    "Comments": g.comments,
                    "JoinDate": format_date(at),
                }
                for g, at in found
            ]
        }
    }


@route(RAM, "ListUsersForGroup", "ram", GROUP_NAME, MARKER, MAX_ITEMS)
def list_users_for_group(svc: Services, who: Principal, p: P) -> P:
    page, marker = svc.groups.members(who, p["GroupName"], p["Marker"], _max(p))
    shown: P = {
        "Users": {
            "User": [
                {"UserName": u.name, "DisplayName": u.display_name, "JoinDate": format_date(at)}
                for u, at in page
            ]
        },
        "IsTruncated": bool(marker),
    }
    if marker:
        shown["Marker"] = marker
    return shown


@route(RAM, "AttachPolicyToGroup", "ram", POLICY_NAME, POLICY_TYPE, GROUP_NAME, RESOURCE_GROUP)
def attach_policy_to_group(svc: Services, who: Principal, p: P) -> P:
    svc.policies.attach_to_group(who, p["GroupName"], p["PolicyType"], p["PolicyName"])
    return {}


@route(RAM, "DetachPolicyFromGroup", "ram", POLICY_NAME, POLICY_TYPE, GROUP_NAME, RESOURCE_GROUP)
def detach_policy_from_group(svc: Services, who: Principal, p: P) -> P:
    svc.policies.detach_from_group(who, p["GroupName"], p["PolicyType"], p["PolicyName"])
    return {}


@route(RAM, "ListPoliciesForGroup", "ram", GROUP_NAME)
def list_policies_for_group(svc: Services, who: Principal, p: P) -> P:
    return _attached(svc.policies.for_group(who, p["GroupName"]))


# -- IMS: security preference -------------------------------------------------------------
def _preference(allow_keys: bool) -> P:
    return {
        "SecurityPreference": {
            "AccessKeyPreference": {
                "AllowUserToManageAccessKeys": allow_keys,
                "AllowUserToManageServiceCredentials": False,
            },
            "LoginProfilePreference": {
                "AllowUserToChangePassword": True,
                "AllowUserToLoginWithPasskey": False,
                "EnableSaveMFATicket": False,
                "LoginNetworkMasks": "",
                "LoginSessionDuration": 6,
                "MFAOperationForLogin": "independent",
                "OperationForRiskLogin": "autonomous",
            },
            "MFAPreference": {"AllowUserToManageMFADevices": False},
            "MaxIdleDays": {"MaxIdleDaysForAccessKeys": 730, "MaxIdleDaysForUsers": 730},
            "PersonalInfoPreference": {"AllowUserToManagePersonalDingTalk": False},
            "VerificationPreference": {"VerificationTypes": []},
        }
    }


@route(IMS, "GetSecurityPreference", "ims")
def get_security_preference(svc: Services, who: Principal, p: P) -> P:
    return _preference(svc.accounts.security_preference(who).allow_user_manage_keys)


@route(IMS, "SetSecurityPreference", "ims", Param("AllowUserToManageAccessKeys", "bool"))
def set_security_preference(svc: Services, who: Principal, p: P) -> P:
    account = svc.accounts.set_security_preference(who, p["AllowUserToManageAccessKeys"])
    return _preference(account.allow_user_manage_keys)


# -- IMS: network access policies ---------------------------------------------------------
ACCESS_KEY_POLICY = Param("AccessKeyPolicy", required=True, max_length=8192)


@route(IMS, "GetAccessKeyPolicy", "ims", KEY_ID, UPN)
def get_access_key_policy(svc: Services, who: Principal, p: P) -> P:
    document = svc.keys.network_policy(who, _owner(p), p["UserAccessKeyId"])
    return {"AccessKeyId": p["UserAccessKeyId"], "AccessKeyPolicy": document}


@route(IMS, "SetAccessKeyPolicy", "ims", ACCESS_KEY_POLICY, KEY_ID, UPN)
def set_access_key_policy(svc: Services, who: Principal, p: P) -> P:
    document = svc.keys.set_network_policy(
        who, _owner(p), p["UserAccessKeyId"], p["AccessKeyPolicy"]
    )
    return {"AccessKeyId": p["UserAccessKeyId"], "AccessKeyPolicy": document}


@route(IMS, "GetAccessKeyPolicyForAccount", "ims")
def get_access_key_policy_for_account(svc: Services, who: Principal, p: P) -> P:
    return {"AccessKeyPolicy": svc.accounts.network_policy(who)}


@route(IMS, "SetAccessKeyPolicyForAccount", "ims", ACCESS_KEY_POLICY)
def set_access_key_policy_for_account(svc: Services, who: Principal, p: P) -> P:
    return {"AccessKeyPolicy": svc.accounts.set_network_policy(who, p["AccessKeyPolicy"])}


# -- IMS: login profiles (console sign-in for RAM users) ----------------------------------
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


@route(
    IMS,
    "CreateLoginProfile",
    "ims",
    PROFILE_UPN,
    PASSWORD,
    Param("PasswordResetRequired", "bool"),
    Param("MFABindRequired", "bool"),
    STATUS,
)
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


@route(IMS, "GetLoginProfile", "ims", PROFILE_UPN)
def get_login_profile(svc: Services, who: Principal, p: P) -> P:
    user, profile, domain = svc.console.get_login_profile(who, UserRef.upn(p["UserPrincipalName"]))
    return {"LoginProfile": _login_profile(user, profile, domain)}


@route(
    IMS,
    "UpdateLoginProfile",
    "ims",
    PROFILE_UPN,
    PASSWORD,
    Param("PasswordResetRequired", "bool"),
    Param("MFABindRequired", "bool"),
    STATUS,
)
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


@route(IMS, "DeleteLoginProfile", "ims", PROFILE_UPN)
def delete_login_profile(svc: Services, who: Principal, p: P) -> P:
    svc.console.delete_login_profile(who, UserRef.upn(p["UserPrincipalName"]))
    return {}
