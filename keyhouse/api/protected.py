"""Keyhouse's own actions on protected services (docs/protect.md), served under IMS
2019-08-15 so that the official SDKs' generic call reaches them: create, read, list, update,
delete. What a gateway asks is answered by keyhouse.api.gateway."""

from __future__ import annotations

from typing import Any

from keyhouse.api.params import Param
from keyhouse.api.routes import Routes
from keyhouse.domain.actions import Action
from keyhouse.domain.model import Principal
from keyhouse.services.protected import ServiceRecord
from keyhouse.services.registry import Services

IMS = "2019-08-15"
P = dict[str, Any]
ROUTES = Routes()
# Longer names reach the rule that says InvalidParameter.ServiceName.
SERVICE_NAME = Param("ServiceName", required=True, max_length=64)
ROUTES_DOCUMENT = Param("Routes", max_length=65_536)
ACTIONS_DOCUMENT = Param("Actions", max_length=8_192)
DESCRIPTION = Param("Description", max_length=1024)


def shown(record: ServiceRecord) -> P:
    fields = record.fields()
    fields["Routes"] = {"Route": fields["Routes"]}
    fields["Actions"] = {"Action": fields["Actions"]}
    return fields


@ROUTES(
    IMS,
    Action.CreateService,
    "keyhouse",
    SERVICE_NAME,
    Param("Routes", required=True, max_length=65_536),
    ACTIONS_DOCUMENT,
    DESCRIPTION,
)
def create_service(svc: Services, who: Principal, p: P) -> P:
    record = svc.services.create(
        who, p["ServiceName"], p["Routes"], p["Actions"], p["Description"] or ""
    )
    return {"Service": shown(record)}


@ROUTES(IMS, Action.GetService, "keyhouse", SERVICE_NAME)
def get_service(svc: Services, who: Principal, p: P) -> P:
    return {"Service": shown(svc.services.get(who, p["ServiceName"]))}


@ROUTES(IMS, Action.ListServices, "keyhouse")
def list_services(svc: Services, who: Principal, p: P) -> P:
    return {"Services": {"Service": [shown(r) for r in svc.services.list(who)]}}


@ROUTES(
    IMS,
    Action.UpdateService,
    "keyhouse",
    SERVICE_NAME,
    ROUTES_DOCUMENT,
    ACTIONS_DOCUMENT,
    DESCRIPTION,
)
def update_service(svc: Services, who: Principal, p: P) -> P:
    record = svc.services.update(who, p["ServiceName"], p["Routes"], p["Actions"], p["Description"])
    return {"Service": shown(record)}


@ROUTES(IMS, Action.DeleteService, "keyhouse", SERVICE_NAME)
def delete_service(svc: Services, who: Principal, p: P) -> P:
    svc.services.delete(who, p["ServiceName"])
    return {}
