"""ActionTrail 2020-07-06 LookupEvents, and IMS credential reports."""

from __future__ import annotations

import base64
from typing import Any

from keyhouse.api.params import Param, invalid
from keyhouse.api.routes import Routes
from keyhouse.clock import format_date
from keyhouse.domain.actions import Action
from keyhouse.domain.model import Principal
from keyhouse.services.registry import Services
from keyhouse.services.trail.lookup import parse_time

P = dict[str, Any]
ROUTES = Routes()


@ROUTES(
    "2020-07-06",
    Action.LookupEvents,
    "actiontrail",
    Param("LookupAttribute", "pairs"),
    Param("StartTime", max_length=64),
    Param("EndTime", max_length=64),
    Param("MaxResults", "int", minimum=1, maximum=50),
    Param("NextToken", max_length=256),
    Param("Direction", max_length=16),
)
def lookup_events(svc: Services, who: Principal, p: P) -> P:
    # The vendor documents FORWARD and BACKWARD (its SDK models too); any letter case works.
    direction = (p["Direction"] or "BACKWARD").upper()
    if direction not in {"FORWARD", "BACKWARD"}:
        raise invalid("Direction", "use FORWARD or BACKWARD.")
    page = svc.trail.lookup(
        who,
        p["LookupAttribute"],
        parse_time(p["StartTime"], "StartTime") if p["StartTime"] else None,
        parse_time(p["EndTime"], "EndTime") if p["EndTime"] else None,
        p["MaxResults"] or 20,
        p["NextToken"],
        forward=direction == "FORWARD",
    )
    shown: P = {
        "Events": page.events,
        "StartTime": format_date(page.start),
        "EndTime": format_date(page.end),
    }
    if page.next_token:
        shown["NextToken"] = page.next_token
    return shown


@ROUTES("2019-08-15", Action.GenerateCredentialReport, "ims")
def generate_credential_report(svc: Services, who: Principal, p: P) -> P:
    return {"State": svc.reports.generate(who)}


@ROUTES(
    "2019-08-15",
    Action.GetCredentialReport,
    "ims",
    Param("MaxItems", "int", minimum=1, maximum=3501),
    Param("NextToken", max_length=64),
)
def get_credential_report(svc: Services, who: Principal, p: P) -> P:
    page = svc.reports.get(who, p["MaxItems"] or 3501, p["NextToken"])
    return {
        "Content": base64.b64encode(page.content.encode()).decode(),
        "GeneratedTime": format_date(page.generated_at),
        "IsTruncated": "true" if page.next_token else "false",
        "NextToken": page.next_token,
    }
