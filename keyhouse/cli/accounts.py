"""``keyhouse account``: the operator's commands on accounts. Each leaves one event in the
account's trail, naming the operator."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from keyhouse.cli.common import acting, database_option, load, open_services, table
from keyhouse.clock import format_date
from keyhouse.domain.actions import Action, Command
from keyhouse.domain.model import Account, KeyDeletion, NewSecret


@click.group()
def account() -> None:
    """Manage accounts."""


@account.command("create")
@click.option("--name", required=True, help="Account name (lower-case letters, digits, hyphens).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@database_option
def account_create(name: str, as_json: bool, database_url: str | None) -> None:
    """Create an account and its root AccessKey pair (the secret is printed once)."""
    settings = load(database_url=database_url)
    with (
        open_services(settings, create=True) as svc,
        acting(svc, "", Command.CreateAccount, {"AccountName": name}),
    ):
        acct, created = svc.accounts.create(name)
    json_fields = {"AccountId": acct.account_id, "AccountName": acct.name}
    lines = [("AccountId", acct.account_id), ("AccountName", acct.name)]
    _show_pair(created, as_json, json_fields, [*lines, ("DefaultDomain", acct.default_domain)])


def _show_pair(
    created: NewSecret, as_json: bool, json_fields: dict[str, str], lines: list[tuple[str, str]]
) -> None:
    """A new pair, printed this once: one JSON object, or aligned lines and a warning."""
    key_id, secret = created.key.access_key_id, created.secret
    if as_json:
        click.echo(json.dumps({**json_fields, "AccessKeyId": key_id, "AccessKeySecret": secret}))
        return
    for label, value in [*lines, ("AccessKeyId", key_id), ("AccessKeySecret", secret)]:
        click.echo(f"{label + ':':<17}{value}")
    click.echo("The secret is shown this once; store it now.")


@account.command("update")
@click.option("--name", required=True, help="The account to change.")
@click.option(
    "--key-deletion",
    type=click.Choice([m.value for m in KeyDeletion]),
    default=None,
    help="recycle-bin: deleted keys wait 30 days; immediate: deleted keys are gone at once.",
)
@database_option
def account_update(name: str, key_deletion: str | None, database_url: str | None) -> None:
    """Change an account's settings (only those given)."""
    with open_services(load(database_url=database_url)) as svc:
        acct = svc.accounts.named(name)
        if key_deletion is None:
            click.echo(
                f"{acct.name}: key deletion is {acct.key_deletion.value} (nothing changed: "
                "give --key-deletion to change it)"
            )
            return
        mode = KeyDeletion(key_deletion)
        params = {"KeyDeletion": mode.value}
        with acting(svc, acct.account_id, Action.SetSecurityPreference, params) as who:
            acct = svc.accounts.set_key_deletion_mode(who, mode)
    click.echo(f"{acct.name}: key deletion is {acct.key_deletion.value}")


@account.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per line.")
@database_option
def account_list(as_json: bool, database_url: str | None) -> None:
    """Every account of the store."""
    with open_services(load(database_url=database_url)) as svc:
        found = svc.accounts.all()
    if as_json:
        for a in found:
            click.echo(json.dumps(_fields(a)))
        return
    table(
        ("NAME", "ACCOUNT ID", "DEFAULT DOMAIN", "KEY DELETION", "CREATED"),
        [
            (
                a.name,
                a.account_id,
                a.default_domain,
                a.key_deletion.value,
                format_date(a.created_at),
            )
            for a in found
        ],
    )


def _fields(a: Account) -> dict[str, Any]:
    return {
        "AccountName": a.name,
        "AccountId": a.account_id,
        "DefaultDomain": a.default_domain,
        "KeyDeletion": a.key_deletion.value,
        "AllowUserToManageAccessKeys": a.allow_user_manage_keys,
        "CreateDate": format_date(a.created_at),
    }


@account.command("show")
@click.option("--name", required=True, help="The account to show.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@database_option
def account_show(name: str, as_json: bool, database_url: str | None) -> None:
    """One account's settings and its root AccessKey pairs (never their secrets)."""
    with open_services(load(database_url=database_url)) as svc:
        acct = svc.accounts.named(name)
        with acting(svc, acct.account_id, Command.GetAccount, {"AccountName": name}) as who:
            keys = svc.keys.list_live(who, None)
    fields = _fields(acct)
    fields["RootAccessKeys"] = [
        {"AccessKeyId": k.access_key_id, "Status": k.status.value} for k in keys
    ]
    if as_json:
        click.echo(json.dumps(fields))
        return
    for label, value in fields.items():
        if label == "RootAccessKeys":
            value = ", ".join(f"{k['AccessKeyId']} ({k['Status']})" for k in value) or "none"
        click.echo(f"{label + ':':<29}{value}")


@account.command("new-root-key")
@click.option("--name", required=True, help="The account whose owner lost the root secret.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@database_option
def account_new_root_key(name: str, as_json: bool, database_url: str | None) -> None:
    """Give the account a new root AccessKey pair (the secret is printed once). The old pairs
    stay as they are: disable and delete them once nothing uses them."""
    with open_services(load(database_url=database_url)) as svc:
        acct = svc.accounts.named(name)
        with acting(svc, acct.account_id, Action.CreateAccessKey, {}) as who:
            created = svc.keys.create(who, None)
    _show_pair(created, as_json, {"AccountName": acct.name}, [])


@account.command("set-password")
@click.option("--name", required=True, help="The account whose owner signs in with it.")
@database_option
def account_set_password(name: str, database_url: str | None) -> None:
    """Set the account owner's console password (asked for; or one line on stdin)."""
    if sys.stdin.isatty():
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\n")
    with open_services(load(database_url=database_url)) as svc:
        acct = svc.accounts.named(name)
        with acting(svc, acct.account_id, Command.SetAccountPassword, {}) as who:
            svc.console.set_owner_password(who, password)
    click.echo(f"The owner of {name} can now sign in to the console.")
