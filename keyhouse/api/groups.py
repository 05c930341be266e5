"""RAM 2015-05-01 groups: members, and the policies attached to them."""

from __future__ import annotations

from typing import Any

from keyhouse.api.params import (
    GROUP_NAME,
    MARKER,
    MAX_ITEMS,
    USER_NAME,
    Param,
    max_items,
)
from keyhouse.api.routes import Routes
from keyhouse.clock import format_date
from keyhouse.domain.actions import Action
from keyhouse.domain.model import Group, Principal
from keyhouse.services.base import UserRef
from keyhouse.services.registry import Services

RAM = "2015-05-01"
P = dict[str, Any]
ROUTES = Routes()


def _group(group: Group) -> P:
    return {
        "GroupId": group.group_id,
        "GroupName": group.name,
        "Comments": group.comments,
        "CreateDate": format_date(group.created_at),
        "UpdateDate": format_date(group.updated_at),
    }


@ROUTES(RAM, Action.CreateGroup, "ram", GROUP_NAME, Param("Comments"))
def create_group(svc: Services, who: Principal, p: P) -> P:
    group = svc.groups.create(who, p["GroupName"], p["Comments"] or "")
    shown = _group(group)
    del shown["UpdateDate"]
    return {"Group": shown}


@ROUTES(RAM, Action.GetGroup, "ram", GROUP_NAME)
def get_group(svc: Services, who: Principal, p: P) -> P:
    return {"Group": _group(svc.groups.get(who, p["GroupName"]))}


@ROUTES(
    RAM,
    Action.UpdateGroup,
    "ram",
    GROUP_NAME,
    Param("NewGroupName", max_length=64),
    Param("NewComments"),
)
def update_group(svc: Services, who: Principal, p: P) -> P:
    group = svc.groups.update(who, p["GroupName"], p["NewGroupName"], p["NewComments"])
    return {"Group": _group(group)}


@ROUTES(RAM, Action.ListGroups, "ram", MARKER, MAX_ITEMS)
def list_groups(svc: Services, who: Principal, p: P) -> P:
    page, marker = svc.groups.page(who, p["Marker"], max_items(p))
    shown: P = {"Groups": {"Group": [_group(g) for g in page]}, "IsTruncated": bool(marker)}
    if marker:
        shown["Marker"] = marker
    return shown


@ROUTES(RAM, Action.DeleteGroup, "ram", GROUP_NAME)
def delete_group(svc: Services, who: Principal, p: P) -> P:
    svc.groups.delete(who, p["GroupName"])
    return {}


@ROUTES(RAM, Action.AddUserToGroup, "ram", GROUP_NAME, USER_NAME)
def add_user_to_group(svc: Services, who: Principal, p: P) -> P:
    svc.groups.add_user(who, p["GroupName"], UserRef.name(p["UserName"]))
    return {}


@ROUTES(RAM, Action.RemoveUserFromGroup, "ram", GROUP_NAME, USER_NAME)
def remove_user_from_group(svc: Services, who: Principal, p: P) -> P:
    svc.groups.remove_user(who, p["GroupName"], UserRef.name(p["UserName"]))
    return {}


@ROUTES(RAM, Action.ListGroupsForUser, "ram", USER_NAME)
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


@ROUTES(RAM, Action.ListUsersForGroup, "ram", GROUP_NAME, MARKER, MAX_ITEMS)
def list_users_for_group(svc: Services, who: Principal, p: P) -> P:
    page, marker = svc.groups.members(who, p["GroupName"], p["Marker"], max_items(p))
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
