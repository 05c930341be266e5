"""``keyhouse user``: an account's RAM users, for the operator (list, show, create, delete into
the bin, restore, purge). Each command runs the same use-case as the API and leaves one event in
the account's trail, naming the operator."""

from __future__ import annotations

import json
from typing import Any

import click

from keyhouse.cli.common import (
    EXIT_DOMAIN,
    database_option,
    fail,
    on_account,
    table,
)
from keyhouse.clock import format_date
from keyhouse.domain.actions import Action
from keyhouse.domain.model import User
from keyhouse.services.base import UserRef

_account = click.option("--account", "account_name", required=True, help="The account.")
_user = click.option("--user", "name", required=True, help="The user's name (before the @).")
_json = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


@click.group()
def user() -> None:
    """An account's RAM users."""


def user_fields(found: User, domain: str) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "UserName": found.name,
        "UserId": found.user_id,
        "UserPrincipalName": found.principal_name(domain),
        "DisplayName": found.display_name,
        "CreateDate": format_date(found.created_at),
        "LastLoginDate": format_date(found.last_login_at) if found.last_login_at else "",
    }
    if found.in_bin:
        fields["RecycleDate"] = format_date(found.recycled_at)
        fields["DeleteDate"] = format_date(found.delete_at)
    return fields


@user.command("list")
@_account
@click.option("--bin", "in_bin", is_flag=True, help="The users in the recycle bin instead.")
@_json
@database_option
def user_list(account_name: str, in_bin: bool, as_json: bool, database_url: str | None) -> None:
    """The account's users by name (at most 1,000), or those in its recycle bin."""
    action = Action.ListUsersInRecycleBin if in_bin else Action.ListUsers
    with on_account(account_name, action, {}, database_url) as (svc, who, _):
        if in_bin:
            page = svc.users.list_bin(who, None, None, 1000)
        else:
            page = svc.users.page(who, None, 1000)
    rows = [user_fields(u, page.domain) for u in page.users]
    if as_json:
        for row in rows:
            click.echo(json.dumps(row))
        return
    if in_bin:
        table(
            ("NAME", "USER ID", "BINNED", "PURGED ON"),
            [(r["UserName"], r["UserId"], r["RecycleDate"], r["DeleteDate"]) for r in rows],
        )
        return
    table(
        ("NAME", "USER ID", "DISPLAY NAME", "CREATED", "LAST SIGN-IN"),
        [
            (r["UserName"], r["UserId"], r["DisplayName"], r["CreateDate"], r["LastLoginDate"])
            for r in rows
        ],
    )


@user.command("show")
@_account
@_user
@_json
@database_option
def user_show(account_name: str, name: str, as_json: bool, database_url: str | None) -> None:
    """A live user and its AccessKey pairs (never their secrets)."""
    with on_account(account_name, Action.GetUser, {"UserName": name}, database_url) as (
        svc,
        who,
        _,
    ):
        found, domain = svc.users.get(who, UserRef.name(name))
        keys = svc.keys.list_live(who, UserRef.name(name))
    fields = user_fields(found, domain)
    fields["AccessKeys"] = [
        {
            "AccessKeyId": k.access_key_id,
            "Status": k.status.value,
            "CreateDate": format_date(k.created_at),
            "LastUsedDate": format_date(k.last_used_at) if k.last_used_at else "",
        }
        for k in keys
    ]
    if as_json:
        click.echo(json.dumps(fields))
        return
    for label, value in fields.items():
        if label != "AccessKeys":
            click.echo(f"{label + ':':<20}{value}")
    click.echo("AccessKeys:")
    table(
        ("  ACCESSKEY ID", "STATUS", "CREATED", "LAST USED"),
        [
            ("  " + k["AccessKeyId"], k["Status"], k["CreateDate"], k["LastUsedDate"] or "never")
            for k in fields["AccessKeys"]
        ],
    )


@user.command("create")
@_account
@_user
@click.option("--display-name", default=None, help="Shown in the console (default: the name).")
@database_option
def user_create(
    account_name: str, name: str, display_name: str | None, database_url: str | None
) -> None:
    """Create a RAM user (it has no AccessKey and no console password yet)."""
    with on_account(account_name, Action.CreateUser, {"UserName": name}, database_url) as (
        svc,
        who,
        _,
    ):
        created, domain = svc.users.create(who, UserRef.name(name), display_name or name)
    click.echo(json.dumps(user_fields(created, domain)))


@user.command("delete")
@_account
@_user
@database_option
def user_delete(account_name: str, name: str, database_url: str | None) -> None:
    """Move a user to the recycle bin (its pairs must be disabled first; they go to the key
    bin with it). It can be restored for 30 days."""
    with on_account(account_name, Action.DeleteUser, {"UserName": name}, database_url) as (
        svc,
        who,
        _,
    ):
        svc.users.delete(who, UserRef.name(name))
    click.echo(f"User {name} is in the recycle bin.")


def _binned_id(svc: Any, who: Any, name: str, user_id: str | None, domain: str) -> str:
    """The ID of the binned user ``name`` (names need not be unique in the bin: with several,
    ``--user-id`` says which)."""
    if user_id:
        return user_id
    page = svc.users.list_bin(who, f"{name}@{domain}", None, 1000)
    found = [u.user_id for u in page.users if u.name == name]
    if not found:
        fail(EXIT_DOMAIN, f"no user named {name} in the recycle bin")
    if len(found) > 1:
        fail(EXIT_DOMAIN, f"several users named {name} in the bin: give --user-id, one of {found}")
    return str(found[0])


_user_id = click.option(
    "--user-id", default=None, help="Which binned user, when several have the name."
)


@user.command("restore")
@_account
@_user
@_user_id
@database_option
def user_restore(
    account_name: str, name: str, user_id: str | None, database_url: str | None
) -> None:
    """Bring a user back from the recycle bin (its pairs stay in the key bin: restore them
    with ``keyhouse key restore``)."""
    params = {"UserName": name}
    with on_account(account_name, Action.RestoreUserFromRecycleBin, params, database_url) as (
        svc,
        who,
        acct,
    ):
        svc.users.restore(who, _binned_id(svc, who, name, user_id, acct.default_domain))
    click.echo(f"User {name} is restored.")


@user.command("purge")
@_account
@_user
@_user_id
@database_option
def user_purge(account_name: str, name: str, user_id: str | None, database_url: str | None) -> None:
    """Delete a user in the recycle bin for good, with all its pairs. Cannot be undone."""
    params = {"UserName": name}
    with on_account(account_name, Action.DeleteUserInRecycleBin, params, database_url) as (
        svc,
        who,
        acct,
    ):
        purged = svc.users.purge(who, _binned_id(svc, who, name, user_id, acct.default_domain))
    click.echo(f"User {name} is gone for good, with {len(purged)} AccessKey pair(s).")
