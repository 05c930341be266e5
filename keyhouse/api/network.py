"""IMS 2019-08-15 network access policies: per AccessKey pair and per account."""

from __future__ import annotations

from typing import Any

from keyhouse.api.ims import KEY_ID, UPN, owner
from keyhouse.api.params import Param
from keyhouse.api.routes import Routes
from keyhouse.domain.actions import Action
from keyhouse.domain.model import Principal
from keyhouse.services.registry import Services

IMS = "2019-08-15"
P = dict[str, Any]
ROUTES = Routes()
ACCESS_KEY_POLICY = Param("AccessKeyPolicy", required=True, max_length=8192)


@ROUTES(IMS, Action.GetAccessKeyPolicy, "ims", KEY_ID, UPN)
def get_access_key_policy(svc: Services, who: Principal, p: P) -> P:
    document = svc.keys.network_policy(who, owner(p), p["UserAccessKeyId"])
    return {"AccessKeyId": p["UserAccessKeyId"], "AccessKeyPolicy": document}


@ROUTES(IMS, Action.SetAccessKeyPolicy, "ims", ACCESS_KEY_POLICY, KEY_ID, UPN)
def set_access_key_policy(svc: Services, who: Principal, p: P) -> P:
    document = svc.keys.set_network_policy(
        who, owner(p), p["UserAccessKeyId"], p["AccessKeyPolicy"]
    )
    return {"AccessKeyId": p["UserAccessKeyId"], "AccessKeyPolicy": document}


@ROUTES(IMS, Action.GetAccessKeyPolicyForAccount, "ims")
def get_access_key_policy_for_account(svc: Services, who: Principal, p: P) -> P:
    return {"AccessKeyPolicy": svc.accounts.network_policy(who)}


@ROUTES(IMS, Action.SetAccessKeyPolicyForAccount, "ims", ACCESS_KEY_POLICY)
def set_access_key_policy_for_account(svc: Services, who: Principal, p: P) -> P:
    return {"AccessKeyPolicy": svc.accounts.set_network_policy(who, p["AccessKeyPolicy"])}
