"""STS 2015-04-01 handlers."""

from __future__ import annotations

from typing import Any

from keyhouse.api.routes import Routes
from keyhouse.domain.actions import Action
from keyhouse.domain.model import Principal
from keyhouse.services.registry import Services

ROUTES = Routes()


@ROUTES("2015-04-01", Action.GetCallerIdentity, "sts")
def get_caller_identity(svc: Services, who: Principal, p: dict[str, Any]) -> dict[str, Any]:
    caller = svc.accounts.caller(who)
    if caller.kind == "user":
        return {
            "AccountId": caller.account_id,
            "UserId": caller.user_id,
            "PrincipalId": caller.user_id,
            "IdentityType": "RAMUser",
            "Arn": f"acs:ram::{caller.account_id}:user/{caller.user_name}",
            "RoleId": "",
        }
    return {
        "AccountId": caller.account_id,
        "UserId": caller.account_id,
        "PrincipalId": caller.account_id,
        "IdentityType": "Account",
        "Arn": f"acs:ram::{caller.account_id}:root",
        "RoleId": "",
    }
