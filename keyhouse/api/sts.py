"""STS 2015-04-01 handlers."""

from __future__ import annotations

from typing import Any

from keyhouse.api.params import Param
from keyhouse.api.routes import Routes
from keyhouse.clock import format_date
from keyhouse.domain import arn
from keyhouse.domain.actions import Action
from keyhouse.domain.model import Principal
from keyhouse.services.registry import Services

ROUTES = Routes()
V = "2015-04-01"


@ROUTES("2015-04-01", Action.GetCallerIdentity, "sts")
def get_caller_identity(svc: Services, who: Principal, p: dict[str, Any]) -> dict[str, Any]:
    caller = svc.accounts.caller(who)
    session = caller.session
    if session is not None:
        return {
            "AccountId": caller.account_id,
            "PrincipalId": session.principal_id,
            "IdentityType": "AssumedRoleUser",
            "Arn": session.arn(caller.account_id),
            "RoleId": session.role_id,
        }
    if caller.kind == "user":
        return {
            "AccountId": caller.account_id,
            "UserId": caller.user_id,
            "PrincipalId": caller.user_id,
            "IdentityType": "RAMUser",
            "Arn": arn.user_arn(caller.account_id, caller.user_name or ""),
            "RoleId": "",
        }
    return {
        "AccountId": caller.account_id,
        "UserId": caller.account_id,
        "PrincipalId": caller.account_id,
        "IdentityType": "Account",
        "Arn": arn.root_arn(caller.account_id),
        "RoleId": "",
    }


@ROUTES(
    V,
    Action.AssumeRole,
    "sts",
    Param("RoleArn", required=True, max_length=1024),
    Param("RoleSessionName", required=True, max_length=1024),
    Param("DurationSeconds", "int", minimum=1, maximum=1_000_000),
    Param("Policy", max_length=65536),
    Param("ExternalId", max_length=4096),
    Param("SourceIdentity", max_length=1024),
)
def assume_role(svc: Services, who: Principal, p: dict[str, Any]) -> dict[str, Any]:
    minted = svc.sts.assume_role(
        who,
        p["RoleArn"],
        p["RoleSessionName"],
        p["DurationSeconds"],
        p["Policy"],
        p["ExternalId"],
    )
    session = minted.session
    return {
        "Credentials": {
            "AccessKeyId": minted.access_key_id,
            "AccessKeySecret": minted.secret,
            "SecurityToken": minted.token,
            "Expiration": format_date(session.expires_at),
        },
        "AssumedRoleUser": {
            "AssumedRoleId": session.principal_id,
            "Arn": session.arn(minted.account_id),
        },
    }
