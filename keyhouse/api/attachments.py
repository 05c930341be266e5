"""RAM 2015-05-01 policy attachments: attach, detach and list for each target of
keyhouse.services.attachments.TARGETS (users, groups, roles), one handler each."""

from __future__ import annotations

from typing import Any

from keyhouse.api.params import GROUP_NAME, POLICY_NAME, POLICY_TYPE, RESOURCE_GROUP, USER_NAME
from keyhouse.api.policies import attached
from keyhouse.api.roles import ROLE_NAME
from keyhouse.api.routes import Routes
from keyhouse.domain.model import Principal
from keyhouse.services.attachments import GROUP, ROLE, USER, Target
from keyhouse.services.registry import Services

RAM = "2015-05-01"
P = dict[str, Any]
ROUTES = Routes()


def _change(target: Target, detach: bool) -> Any:
    def change(svc: Services, who: Principal, p: P) -> P:
        do = svc.attachments.detach if detach else svc.attachments.attach
        do(who, target, target.ref(p[target.parameter]), p["PolicyType"], p["PolicyName"])
        return {}

    return change


def _list(target: Target) -> Any:
    def listing(svc: Services, who: Principal, p: P) -> P:
        return attached(svc.attachments.of(who, target, target.ref(p[target.parameter])))

    return listing


for target, named in ((USER, USER_NAME), (GROUP, GROUP_NAME), (ROLE, ROLE_NAME)):
    change = (POLICY_NAME, POLICY_TYPE, named, RESOURCE_GROUP)
    ROUTES(RAM, target.attach, "ram", *change)(_change(target, detach=False))
    ROUTES(RAM, target.detach, "ram", *change)(_change(target, detach=True))
    ROUTES(RAM, target.listing, "ram", named)(_list(target))
