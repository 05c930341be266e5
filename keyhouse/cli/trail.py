"""``keyhouse audit`` and ``keyhouse acl``: check and export the trail, and replay it against
a proposed network access policy."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

import click

from keyhouse.cli.common import (
    EXIT_DOMAIN,
    acting,
    as_of,
    database_option,
    fail,
    load,
    open_services,
    store_name,
    table,
)
from keyhouse.cli.keys import account_of
from keyhouse.domain.actions import Command


@click.group()
def audit() -> None:
    """Check and export the audit trail."""


@audit.command("verify")
@click.option("--account", "account_name", default=None, help="Only this account's trail.")
@database_option
def audit_verify(account_name: str | None, database_url: str | None) -> None:
    """Check every account's hash chain; name the first edited, missing or inserted event."""
    settings = load(database_url=database_url)
    with open_services(settings) as services:
        services.audit.flush()
        names = {a.account_id: a.name for a in services.accounts.all()}
        account_id = None
        if account_name is not None:
            ids_ = [i for i, n in names.items() if n == account_name]
            if not ids_:
                fail(EXIT_DOMAIN, f"no account named {account_name} in {store_name(settings)}")
            account_id = ids_[0]
        breaks = services.trail.verify(account_id)
    if not breaks:
        click.echo("The audit trail is intact.")
        return
    for b in breaks:
        who = names.get(b.account_id, "(no account)") if b.account_id else "(unknown keys)"
        click.echo(
            f"BROKEN: account {who} ({b.account_id or '-'}): event {b.seq}"
            f"{' ' + b.event_id if b.event_id else ''}: {b.reason}",
            err=True,
        )
    sys.exit(1)


@audit.command("export")
@click.option("--since", callback=as_of, required=True, help="UTC time, e.g. 2026-11-01T00:00:00Z.")
@click.option("--until", callback=as_of, default=None, help="UTC time (exclusive).")
@database_option
def audit_export(since: datetime, until: datetime | None, database_url: str | None) -> None:
    """Write events as JSON lines (one event per line, every account)."""
    with open_services(load(database_url=database_url)) as services:
        services.audit.flush()
        for body in services.trail.export(since, until):
            click.echo(body)


@click.group()
def acl() -> None:
    """Network access policies."""


@acl.command("simulate")
@click.argument("access_key_id")
@click.option(
    "--policy", "policy_file", required=True, type=click.Path(exists=True, dir_okay=False)
)
@click.option("--days", default=30, show_default=True, type=click.IntRange(1, 400))
@database_option
def acl_simulate(access_key_id: str, policy_file: str, days: int, database_url: str | None) -> None:
    """Replay a proposed network access policy against the key's recent requests."""
    document = Path(policy_file).read_text()
    settings = load(database_url=database_url)
    with open_services(settings) as svc:
        svc.audit.flush()
        account_id = account_of(svc, settings, access_key_id, live=False)
        params = {"UserAccessKeyId": access_key_id, "Days": str(days)}
        with acting(svc, account_id, Command.SimulateAccessKeyPolicy, params) as who:
            refused = svc.trail.simulate(who, access_key_id, document, days)
    if not refused:
        click.echo(f"None of the last {days} days' requests with {access_key_id} would be refused.")
        return
    click.echo(f"{len(refused)} of the last {days} days' requests would have been refused:")
    table(
        ("TIME", "SOURCE", "ACTION"),
        [(e["eventTime"], e["sourceIpAddress"], e["eventName"]) for e in refused],
    )
