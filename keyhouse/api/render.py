"""Domain values in the exact JSON shapes of the SDK models."""

from __future__ import annotations

from typing import Any

from keyhouse.clock import format_date
from keyhouse.domain.model import AccessKey, User


def _tags(user: User) -> dict[str, Any]:
    return {"Tag": [{"TagKey": k, "TagValue": v} for k, v in user.tags]}


def ims_user(
    user: User, domain: str, *, with_name: bool = False, with_status: bool = False
) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "UserId": user.user_id,
        "UserPrincipalName": user.principal_name(domain),
        "DisplayName": user.display_name,
        "Comments": user.comments,
        "Email": user.email,
        "MobilePhone": user.mobile_phone,
        "CreateDate": format_date(user.created_at),
        "UpdateDate": format_date(user.updated_at),
        "LastLoginDate": format_date(user.last_login_at),
        "ProvisionType": "Manual",
        "Tags": _tags(user),
    }
    if with_name:
        shown["UserName"] = user.name
    if with_status:
        shown["Status"] = "active"
    return shown


def ram_user(user: User) -> dict[str, Any]:
    return {
        "UserId": user.user_id,
        "UserName": user.name,
        "DisplayName": user.display_name,
        "Comments": user.comments,
        "Email": user.email,
        "MobilePhone": user.mobile_phone,
        "CreateDate": format_date(user.created_at),
        "UpdateDate": format_date(user.updated_at),
        "LastLoginDate": format_date(user.last_login_at),
    }


def binned_user(user: User, domain: str) -> dict[str, Any]:
    return {
        "UserId": user.user_id,
        "UserPrincipalName": user.principal_name(domain),
        "DisplayName": user.display_name,
        "CreateDate": format_date(user.created_at),
        "RecycleDate": format_date(user.recycled_at),
        "DeleteDate": format_date(user.delete_at),
    }


def key(key: AccessKey, *, with_update: bool) -> dict[str, Any]:
    shown = {
        "AccessKeyId": key.access_key_id,
        "Status": key.status.value,
        "CreateDate": format_date(key.created_at),
    }
    if with_update:
        shown["UpdateDate"] = format_date(key.updated_at)
    return shown


def binned_key(key: AccessKey) -> dict[str, Any]:
    return {
        "AccessKeyId": key.access_key_id,
        "CreateDate": format_date(key.created_at),
        "RecycleDate": format_date(key.recycled_at),
        "DeleteDate": format_date(key.delete_at),
    }
