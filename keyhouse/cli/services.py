"""``keyhouse service``: the APIs an account protects with Keyhouse (docs/protect.md): their
routes, and who called them. Each command leaves one event in the account's trail, naming the
operator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from keyhouse.cli.common import database_option, on_account, table
from keyhouse.clock import format_date
from keyhouse.domain.actions import Action

# How many of a service's recent verifications ``service show`` prints.
CALLS_SHOWN = 20

_account = click.option("--account", "account_name", required=True, help="The account.")
_service = click.option("--service", "name", required=True, help="The service's name.")
_json = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def _document(value: str | None) -> str | None:
    """A JSON document given inline, or ``@file`` to read it from a file."""
    if value is not None and value.startswith("@"):
        return Path(value[1:]).read_text()
    return value


_routes = click.option(
    "--routes",
    help='The routes: a JSON array of {"Method", "Path", "Action", "Resource"}, or @file.',
)
_actions = click.option(
    "--actions",
    help="The actions a route without an Action may take from the signed x-acs-action: a JSON "
    "array of names, or @file.",
)


@click.group()
def service() -> None:
    """The APIs an account protects with Keyhouse (behind a gateway or the middleware)."""


@service.command("list")
@_account
@_json
@database_option
def service_list(account_name: str, as_json: bool, database_url: str | None) -> None:
    """The account's services, by name."""
    with on_account(account_name, Action.ListServices, {}, database_url) as (svc, who, _):
        found = svc.services.list(who)
    if as_json:
        for record in found:
            click.echo(json.dumps(record.fields()))
        return
    table(
        ("NAME", "ROUTES", "UPDATED", "DESCRIPTION"),
        [
            (
                r.service.name,
                len(r.service.routes),
                format_date(r.updated_at),
                r.service.description,
            )
            for r in found
        ],
    )


@service.command("show")
@_account
@_service
@_json
@database_option
def service_show(account_name: str, name: str, as_json: bool, database_url: str | None) -> None:
    """A service: its routes, and its recent calls (the verifications of the last 7 days in
    the account's trail, newest first, refused ones too)."""
    with on_account(account_name, Action.GetService, {"ServiceName": name}, database_url) as (
        svc,
        who,
        _,
    ):
        record = svc.services.get(who, name)
        calls = svc.trail.service_calls(who, name, CALLS_SHOWN)
    fields = record.fields()
    fields["Calls"] = [call_fields(e) for e in calls]
    if as_json:
        click.echo(json.dumps(fields))
        return
    for label in ("ServiceName", "Description", "CreateDate", "UpdateDate"):
        click.echo(f"{label + ':':<14}{fields[label]}")
    click.echo(f"{'Actions:':<14}{', '.join(fields['Actions']) or 'none'}")
    click.echo("Routes:")
    table(
        ("  METHOD", "PATH", "ACTION", "RESOURCE"),
        [
            ("  " + r["Method"], r["Path"], r.get("Action", "(signed x-acs-action)"), r["Resource"])
            for r in fields["Routes"]
        ],
    )
    click.echo("Calls (last 7 days):")
    if not fields["Calls"]:
        click.echo("  none")
        return
    table(
        ("  TIME", "CALLER", "KEY", "ACTION", "RESOURCE", "RESULT"),
        [
            (
                "  " + c["Time"],
                c["Caller"],
                c["AccessKeyId"],
                c["Action"],
                c["Resource"],
                c["Result"],
            )
            for c in fields["Calls"]
        ],
    )


def call_fields(event: dict[str, Any]) -> dict[str, str]:
    """One verification as the service's views show it."""
    identity = event.get("userIdentity") or {}
    params = event.get("requestParameters") or {}
    return {
        "Time": event.get("eventTime", ""),
        "Caller": identity.get("userName") or "-",
        "AccessKeyId": identity.get("accessKeyId") or "-",
        "Action": event.get("eventName", ""),
        "Method": params.get("Method", ""),
        "Path": params.get("Path", ""),
        "Resource": params.get("Resource", "-"),
        "Result": event.get("errorCode") or "OK",
    }


@service.command("create")
@_account
@_service
@click.option(
    "--routes",
    required=True,
    help='The routes: a JSON array of {"Method", "Path", "Action", "Resource"}, or @file.',
)
@_actions
@click.option("--description", default="", help="What the service is.")
@database_option
def service_create(
    account_name: str,
    name: str,
    routes: str,
    actions: str | None,
    description: str,
    database_url: str | None,
) -> None:
    """Protect a service: its routes give each request's action and resource."""
    with on_account(account_name, Action.CreateService, {"ServiceName": name}, database_url) as (
        svc,
        who,
        _,
    ):
        record = svc.services.create(
            who, name, _document(routes) or "", _document(actions), description
        )
    click.echo(json.dumps(record.fields()))


@service.command("update")
@_account
@_service
@_routes
@_actions
@click.option("--description", default=None, help="What the service is.")
@database_option
def service_update(
    account_name: str,
    name: str,
    routes: str | None,
    actions: str | None,
    description: str | None,
    database_url: str | None,
) -> None:
    """Change a service's routes, actions or description (what is not given stays)."""
    with on_account(account_name, Action.UpdateService, {"ServiceName": name}, database_url) as (
        svc,
        who,
        _,
    ):
        record = svc.services.update(who, name, _document(routes), _document(actions), description)
    click.echo(json.dumps(record.fields()))


@service.command("delete")
@_account
@_service
@database_option
def service_delete(account_name: str, name: str, database_url: str | None) -> None:
    """Stop protecting a service: its gateways refuse every request to it from then on."""
    with on_account(account_name, Action.DeleteService, {"ServiceName": name}, database_url) as (
        svc,
        who,
        _,
    ):
        svc.services.delete(who, name)
    click.echo(f"Deleted service {name}.")
