"""``keyhouse mfa``: the operator's way back in when a phone is lost. ``reset`` unbinds and
deletes the MFA device of a RAM user, or of the account owner; the next sign-in asks for the
password only (or for a new device, where one is required). One event in the account's trail,
naming the operator."""

from __future__ import annotations

import click

from keyhouse.cli.common import database_option, on_account
from keyhouse.domain.actions import Command


@click.group()
def mfa() -> None:
    """Console MFA devices."""


@mfa.command("reset")
@click.option("--account", "account_name", required=True, help="The account.")
@click.option("--user", "name", help="The RAM user's name (before the @).")
@click.option("--owner", is_flag=True, help="The account owner's device instead of a user's.")
@database_option
def reset(account_name: str, name: str | None, owner: bool, database_url: str | None) -> None:
    """Unbind and delete a RAM user's MFA device (--user), or the account owner's (--owner)."""
    if bool(name) == owner:
        raise click.UsageError("give either --user NAME or --owner")
    params = {"UserName": name} if name else {"Owner": "true"}
    with on_account(account_name, Command.ResetMFADevice, params, database_url) as (svc, who, _):
        device = svc.mfa.reset(who, name)
    click.echo(f"Reset: {device.serial_number} is unbound and deleted.")
