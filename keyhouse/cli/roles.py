"""``keyhouse role``: an account's RAM roles, and who assumed them (read from the trail). Each
command leaves one event in the account's trail, naming the operator."""

from __future__ import annotations

import json
from typing import Any

import click

from keyhouse.cli.common import database_option, on_account, table
from keyhouse.clock import format_date
from keyhouse.domain.actions import Action
from keyhouse.domain.model import Role
from keyhouse.services.attachments import ROLE

# How many of a role's recent AssumeRole events ``role show`` prints.
SESSIONS_SHOWN = 20


@click.group()
def role() -> None:
    """An account's RAM roles."""


@role.command("list")
@click.option("--account", "account_name", required=True, help="The account whose roles.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per line.")
@database_option
def role_list(account_name: str, as_json: bool, database_url: str | None) -> None:
    """The account's roles, by name."""
    with on_account(account_name, Action.ListRoles, {}, database_url) as (svc, who, _):
        found, _ = svc.roles.page(who, None, 1000)
    if as_json:
        for r in found:
            click.echo(json.dumps(_fields(r)))
        return
    table(
        ("NAME", "ROLE ID", "MAX SESSION", "CREATED", "ARN"),
        [
            (r.name, r.role_id, f"{r.max_session_duration}s", format_date(r.created_at), r.arn)
            for r in found
        ],
    )


def _fields(r: Role) -> dict[str, Any]:
    return {
        "RoleName": r.name,
        "RoleId": r.role_id,
        "Arn": r.arn,
        "Description": r.description,
        "MaxSessionDuration": r.max_session_duration,
        "CreateDate": format_date(r.created_at),
        "UpdateDate": format_date(r.updated_at),
    }


@role.command("show")
@click.option("--account", "account_name", required=True, help="The role's account.")
@click.option("--role", "role_name", required=True, help="The role's name (any case).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@database_option
def role_show(account_name: str, role_name: str, as_json: bool, database_url: str | None) -> None:
    """A role: its trust policy, its policies, and its recent sessions (the AssumeRole events
    of the last 7 days in the account's trail, newest first)."""
    with on_account(account_name, Action.GetRole, {"RoleName": role_name}, database_url) as (
        svc,
        who,
        _,
    ):
        found = svc.roles.get(who, role_name)
        attached = svc.attachments.of(who, ROLE, role_name)
        assumed = svc.trail.role_sessions(who, found.arn, SESSIONS_SHOWN)
    base = _fields(found)
    fields = dict(base)
    fields["AssumeRolePolicyDocument"] = json.loads(found.trust_policy)
    fields["Policies"] = [{"PolicyName": a.view.name, "PolicyType": a.view.type} for a in attached]
    fields["Sessions"] = [_session(e) for e in assumed]
    if as_json:
        click.echo(json.dumps(fields))
        return
    for label, value in base.items():
        click.echo(f"{label + ':':<20}{value}")
    policies = ", ".join(f"{p['PolicyName']} ({p['PolicyType']})" for p in fields["Policies"])
    click.echo(f"{'Policies:':<20}{policies or 'none'}")
    click.echo("Trust policy:")
    for line in json.dumps(fields["AssumeRolePolicyDocument"], indent=2).splitlines():
        click.echo(f"  {line}")
    click.echo("Sessions (last 7 days):")
    if not fields["Sessions"]:
        click.echo("  none")
        return
    table(
        ("  TIME", "SESSION", "ASSUMED BY", "WITH KEY", "TEMPORARY KEY", "EXPIRES", "RESULT"),
        [
            (
                "  " + s["Time"],
                s["Session"],
                s["AssumedBy"],
                s["SourceAccessKeyId"],
                s["AccessKeyId"] or "-",
                s["Expiration"] or "-",
                s["Error"] or "OK",
            )
            for s in fields["Sessions"]
        ],
    )


def _session(event: dict[str, Any]) -> dict[str, str]:
    answer = event.get("responseElements") or {}
    identity = event.get("userIdentity") or {}
    return {
        "Time": event.get("eventTime", ""),
        "Session": (event.get("requestParameters") or {}).get("RoleSessionName", ""),
        "AssumedBy": identity.get("userName") or "",
        "SourceAccessKeyId": identity.get("accessKeyId") or "",
        "AccessKeyId": answer.get("AccessKeyId", ""),
        "Expiration": answer.get("Expiration", ""),
        "Error": event.get("errorCode") or "",
    }
