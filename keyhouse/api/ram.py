"""RAM 2015-05-01 handlers: users addressed by UserName, their AccessKeys."""

from __future__ import annotations

from typing import Any

from keyhouse.api import render
from keyhouse.api.params import Param
from keyhouse.api.routes import Routes
from keyhouse.clock import format_date
from keyhouse.domain.actions import Action
from keyhouse.domain.model import KeyStatus, Principal
from keyhouse.services.base import UserRef
from keyhouse.services.registry import Services
from keyhouse.services.users import UserChanges

V = "2015-05-01"
ROUTES = Routes()
NAME = Param("UserName", max_length=64)
REQUIRED_NAME = Param("UserName", required=True, max_length=64)
KEY_ID = Param("UserAccessKeyId", required=True, max_length=64)
P = dict[str, Any]


def _owner(p: P) -> UserRef | None:
    return UserRef.name(p["UserName"]) if p.get("UserName") else None


@ROUTES(
    V,
    Action.CreateUser,
    "ram",
    REQUIRED_NAME,
    Param("DisplayName"),
    Param("Comments"),
    Param("Email", max_length=128),
    Param("MobilePhone", max_length=32),
)
def create_user(svc: Services, who: Principal, p: P) -> P:
    user, _ = svc.users.create(
        who,
        UserRef.name(p["UserName"]),
        p["DisplayName"],
        comments=p["Comments"] or "",
        email=p["Email"] or "",
        mobile_phone=p["MobilePhone"] or "",
        display_name_limit=128,
    )
    shown = render.ram_user(user)
    for absent in ("UpdateDate", "LastLoginDate"):
        del shown[absent]
    return {"User": shown}


@ROUTES(V, Action.GetUser, "ram", REQUIRED_NAME)
def get_user(svc: Services, who: Principal, p: P) -> P:
    user, _ = svc.users.get(who, UserRef.name(p["UserName"]))
    return {"User": render.ram_user(user)}


@ROUTES(
    V,
    Action.UpdateUser,
    "ram",
    REQUIRED_NAME,
    Param("NewUserName", max_length=64),
    Param("NewDisplayName"),
    Param("NewComments"),
    Param("NewEmail", max_length=128),
    Param("NewMobilePhone", max_length=32),
)
def update_user(svc: Services, who: Principal, p: P) -> P:
    changes = UserChanges(
        new_name=UserRef.name(p["NewUserName"], "NewUserName") if p["NewUserName"] else None,
        display_name=p["NewDisplayName"],
        comments=p["NewComments"],
        email=p["NewEmail"],
        mobile_phone=p["NewMobilePhone"],
    )
    user, _ = svc.users.update(who, UserRef.name(p["UserName"]), changes, display_name_limit=128)
    return {"User": render.ram_user(user)}


@ROUTES(
    V,
    Action.ListUsers,
    "ram",
    Param("Marker", max_length=512),
    Param("MaxItems", kind="int", minimum=1, maximum=1000),
)
def list_users(svc: Services, who: Principal, p: P) -> P:
    page = svc.users.page(who, p["Marker"], p["MaxItems"] or 100)
    return {
        "IsTruncated": bool(page.marker),
        "Marker": page.marker,
        "Users": {"User": [render.ram_user(u) for u in page.users]},
    }


@ROUTES(V, Action.DeleteUser, "ram", REQUIRED_NAME)
def delete_user(svc: Services, who: Principal, p: P) -> P:
    svc.users.delete(who, UserRef.name(p["UserName"]))
    return {}


@ROUTES(V, Action.CreateAccessKey, "ram", NAME)
def create_access_key(svc: Services, who: Principal, p: P) -> P:
    created = svc.keys.create(who, _owner(p))
    shown = render.key(created.key, with_update=False)
    shown["AccessKeySecret"] = created.secret
    return {"AccessKey": shown}


@ROUTES(
    V,
    Action.UpdateAccessKey,
    "ram",
    KEY_ID,
    NAME,
    Param("Status", required=True, choices=("Active", "Inactive")),
)
def update_access_key(svc: Services, who: Principal, p: P) -> P:
    svc.keys.set_status(who, _owner(p), p["UserAccessKeyId"], KeyStatus(p["Status"]))
    return {}


@ROUTES(V, Action.DeleteAccessKey, "ram", KEY_ID, NAME)
def delete_access_key(svc: Services, who: Principal, p: P) -> P:
    svc.keys.delete(who, _owner(p), p["UserAccessKeyId"])
    return {}


@ROUTES(V, Action.ListAccessKeys, "ram", NAME)
def list_access_keys(svc: Services, who: Principal, p: P) -> P:
    keys = svc.keys.list_live(who, _owner(p))
    return {"AccessKeys": {"AccessKey": [render.key(k, with_update=False) for k in keys]}}


@ROUTES(V, Action.GetAccessKeyLastUsed, "ram", KEY_ID, NAME)
def get_access_key_last_used(svc: Services, who: Principal, p: P) -> P:
    key = svc.keys.last_used(who, _owner(p), p["UserAccessKeyId"])
    return {"AccessKeyLastUsed": {"LastUsedDate": format_date(key.last_used_at)}}
