"""RAM 2015-05-01 permission policies: custom and system ones, versions, attachments."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from keyhouse.api.params import (
    MARKER,
    MAX_ITEMS,
    POLICY_NAME,
    POLICY_TYPE,
    Param,
    max_items,
)
from keyhouse.api.routes import Routes
from keyhouse.clock import format_date
from keyhouse.domain.actions import Action
from keyhouse.domain.model import PolicyVersion, Principal
from keyhouse.services.policies import Attached, PolicyView
from keyhouse.services.registry import Services

RAM = "2015-05-01"
P = dict[str, Any]
DOCUMENT = Param("PolicyDocument", required=True)
VERSION_ID = Param("VersionId", required=True, max_length=16)
ROUTES = Routes()


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


def attached(found: list[Attached]) -> P:
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


@ROUTES(RAM, Action.CreatePolicy, "ram", POLICY_NAME, DOCUMENT, Param("Description"))
def create_policy(svc: Services, who: Principal, p: P) -> P:
    view = svc.policies.create(who, p["PolicyName"], p["PolicyDocument"], p["Description"] or "")
    shown = _policy(view, count=False)
    del shown["UpdateDate"]
    return {"Policy": shown}


@ROUTES(RAM, Action.GetPolicy, "ram", POLICY_NAME, POLICY_TYPE)
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


@ROUTES(RAM, Action.DeletePolicy, "ram", POLICY_NAME, Param("CascadingDelete", "bool"))
def delete_policy(svc: Services, who: Principal, p: P) -> P:
    svc.policies.delete(who, p["PolicyName"], cascade=bool(p["CascadingDelete"]))
    return {}


@ROUTES(RAM, Action.ListPolicies, "ram", Param("PolicyType", max_length=16), MARKER, MAX_ITEMS)
def list_policies(svc: Services, who: Principal, p: P) -> P:
    page, marker = svc.policies.page(who, p["PolicyType"], p["Marker"], max_items(p))
    shown: P = {"Policies": {"Policy": [_policy(v) for v in page]}, "IsTruncated": bool(marker)}
    if marker:
        shown["Marker"] = marker
    return shown


@ROUTES(
    RAM,
    Action.CreatePolicyVersion,
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


@ROUTES(RAM, Action.GetPolicyVersion, "ram", POLICY_NAME, POLICY_TYPE, VERSION_ID)
def get_policy_version(svc: Services, who: Principal, p: P) -> P:
    version = svc.policies.get_version(who, p["PolicyType"], p["PolicyName"], p["VersionId"])
    return {"PolicyVersion": _version(version)}


@ROUTES(RAM, Action.ListPolicyVersions, "ram", POLICY_NAME, POLICY_TYPE)
def list_policy_versions(svc: Services, who: Principal, p: P) -> P:
    versions = svc.policies.list_versions(who, p["PolicyType"], p["PolicyName"])
    return {"PolicyVersions": {"PolicyVersion": [_version(v) for v in versions]}}


@ROUTES(RAM, Action.SetDefaultPolicyVersion, "ram", POLICY_NAME, VERSION_ID)
def set_default_policy_version(svc: Services, who: Principal, p: P) -> P:
    svc.policies.set_default_version(who, p["PolicyName"], p["VersionId"])
    return {}


@ROUTES(RAM, Action.DeletePolicyVersion, "ram", POLICY_NAME, VERSION_ID)
def delete_policy_version(svc: Services, who: Principal, p: P) -> P:
    svc.policies.delete_version(who, p["PolicyName"], p["VersionId"])
    return {}


@ROUTES(RAM, Action.ListEntitiesForPolicy, "ram", POLICY_NAME, POLICY_TYPE)
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
        "Roles": {
            "Role": [
                {
                    "RoleId": r.role_id,
                    "RoleName": r.name,
                    "Arn": r.arn,
                    "Description": r.description,
                    "AttachDate": format_date(at),
                }
                for r, at in found.roles
            ]
        },
    }
