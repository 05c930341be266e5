"""RAM 2015-05-01 roles: create, read, list, update, delete, and their policies."""

from __future__ import annotations

from typing import Any

from keyhouse.api.params import (
    MARKER,
    MAX_ITEMS,
    Param,
    max_items,
)
from keyhouse.api.routes import Routes
from keyhouse.clock import format_date
from keyhouse.domain.actions import Action
from keyhouse.domain.model import Principal, Role
from keyhouse.services.registry import Services

RAM = "2015-05-01"
P = dict[str, Any]
ROUTES = Routes()
# Longer names reach the rule that says InvalidParameter.RoleName.Length.
ROLE_NAME = Param("RoleName", required=True, max_length=1024)
DESCRIPTION = Param("Description", max_length=1024)


def _role(role: Role, *, document: bool = True, updated: bool = True) -> P:
    shown: P = {
        "RoleId": role.role_id,
        "RoleName": role.name,
        "Arn": role.arn,
        "Description": role.description,
        "CreateDate": format_date(role.created_at),
        "MaxSessionDuration": role.max_session_duration,
    }
    if document:
        shown["AssumeRolePolicyDocument"] = role.trust_policy
    if updated:
        shown["UpdateDate"] = format_date(role.updated_at)
    return shown


@ROUTES(
    RAM,
    Action.CreateRole,
    "ram",
    ROLE_NAME,
    Param("AssumeRolePolicyDocument", required=True, max_length=4096),
    DESCRIPTION,
    Param("MaxSessionDuration", "int", minimum=3600, maximum=43200),
)
def create_role(svc: Services, who: Principal, p: P) -> P:
    role = svc.roles.create(
        who,
        p["RoleName"],
        p["AssumeRolePolicyDocument"],
        p["Description"] or "",
        p["MaxSessionDuration"],
    )
    return {"Role": _role(role, updated=False)}


@ROUTES(RAM, Action.GetRole, "ram", ROLE_NAME)
def get_role(svc: Services, who: Principal, p: P) -> P:
    return {"Role": _role(svc.roles.get(who, p["RoleName"]))}


@ROUTES(RAM, Action.ListRoles, "ram", MARKER, MAX_ITEMS)
def list_roles(svc: Services, who: Principal, p: P) -> P:
    found, marker = svc.roles.page(who, p["Marker"], max_items(p))
    reply: P = {
        "IsTruncated": bool(marker),
        "Roles": {"Role": [_role(r, document=False) for r in found]},
    }
    if marker:
        reply["Marker"] = marker
    return reply


@ROUTES(
    RAM,
    Action.UpdateRole,
    "ram",
    ROLE_NAME,
    Param("NewAssumeRolePolicyDocument", max_length=4096),
    Param("NewDescription", max_length=1024),
    Param("NewMaxSessionDuration", "int", minimum=3600, maximum=43200),
)
def update_role(svc: Services, who: Principal, p: P) -> P:
    role = svc.roles.update(
        who,
        p["RoleName"],
        trust_policy=p["NewAssumeRolePolicyDocument"],
        description=p["NewDescription"],
        max_session_duration=p["NewMaxSessionDuration"],
    )
    return {"Role": _role(role)}


@ROUTES(RAM, Action.DeleteRole, "ram", ROLE_NAME)
def delete_role(svc: Services, who: Principal, p: P) -> P:
    svc.roles.delete(who, p["RoleName"])
    return {}
