"""``keyhouse key list|create|enable|disable|delete|restore|purge``: the lifecycle of AccessKey
pairs, for the operator, through the same use-cases as the API. A pair is named by its ID
(its account and owner are looked up); a new one by its account and user (none: the account's
root). Each command leaves one event in the account's trail, naming the operator."""

from __future__ import annotations

import json
from typing import Any

import click

from keyhouse.cli.common import (
    EXIT_DOMAIN,
    acting,
    database_option,
    fail,
    load,
    on_account,
    open_services,
    table,
)
from keyhouse.cli.keys import key
from keyhouse.clock import format_date
from keyhouse.domain.actions import Action
from keyhouse.domain.model import AccessKey, KeyStatus
from keyhouse.services.base import UserRef
from keyhouse.services.registry import Services

_account = click.option("--account", "account_name", required=True, help="The account.")
_owner = click.option(
    "--user", "user_name", default=None, help="The user (before the @); none: the root's pairs."
)
_id = click.argument("access_key_id")


def key_fields(found: AccessKey) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "AccessKeyId": found.access_key_id,
        "Status": found.status.value,
        "CreateDate": format_date(found.created_at),
        "LastUsedDate": format_date(found.last_used_at) if found.last_used_at else "",
        "LastUsedService": found.last_used_service,
    }
    if found.in_bin:
        fields["RecycleDate"] = format_date(found.recycled_at)
        fields["DeleteDate"] = format_date(found.delete_at)
    return fields


def _ref(user_name: str | None) -> UserRef | None:
    return UserRef.name(user_name) if user_name else None


def _params(access_key_id: str, user_name: str | None) -> dict[str, str]:
    found = {"UserAccessKeyId": access_key_id}
    if user_name:
        found["UserName"] = user_name
    return found


@key.command("list")
@_account
@_owner
@click.option("--bin", "in_bin", is_flag=True, help="The pairs in the recycle bin instead.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per line.")
@database_option
def key_list(
    account_name: str, user_name: str | None, in_bin: bool, as_json: bool, database_url: str | None
) -> None:
    """A user's (or the root's) pairs, never their secrets; or those in the recycle bin."""
    action = Action.ListAccessKeysInRecycleBin if in_bin else Action.ListAccessKeys
    params = {"UserName": user_name} if user_name else {}
    with on_account(account_name, action, params, database_url) as (svc, who, _):
        if in_bin:
            user_id = svc.users.get(who, UserRef.name(user_name))[0].user_id if user_name else None
            found = svc.keys.list_bin(who, user_id)
        else:
            found = svc.keys.list_live(who, _ref(user_name))
    rows = [key_fields(k) for k in found]
    if as_json:
        for row in rows:
            click.echo(json.dumps(row))
        return
    table(
        ("ACCESSKEY ID", "STATUS", "CREATED", "LAST USED", "SERVICE"),
        [
            (r["AccessKeyId"], r["Status"], r["CreateDate"], r["LastUsedDate"] or "never",
             r["LastUsedService"] or "-")
            for r in rows
        ],
    )  # fmt: skip


@key.command("create")
@_account
@_owner
@database_option
def key_create(account_name: str, user_name: str | None, database_url: str | None) -> None:
    """A new Active pair. Its secret is printed here once, and never again."""
    params = {"UserName": user_name} if user_name else {}
    with on_account(account_name, Action.CreateAccessKey, params, database_url) as (svc, who, _):
        made = svc.keys.create(who, _ref(user_name))
    click.echo(f"AccessKeyId:     {made.key.access_key_id}")
    click.echo(f"AccessKeySecret: {made.secret}")
    click.echo("The secret is shown only now: store it where the application reads it.")


def _owned(svc: Services, access_key_id: str) -> tuple[str, str | None]:
    """The account and user name (None: the root) of a pair the store holds."""
    owner = svc.keys.whose(access_key_id)
    if owner is None:
        fail(EXIT_DOMAIN, f"no AccessKey {access_key_id} in this store")
    return owner.key.account_id, owner.user_name


def _status(access_key_id: str, status: KeyStatus, database_url: str | None) -> None:
    with open_services(load(database_url=database_url)) as svc:
        account_id, user_name = _owned(svc, access_key_id)
        params = {**_params(access_key_id, user_name), "Status": status.value}
        with acting(svc, account_id, Action.UpdateAccessKey, params) as who:
            svc.keys.set_status(who, _ref(user_name), access_key_id, status)
    click.echo(f"{access_key_id} is {status.value}.")


@key.command("disable")
@_id
@database_option
def key_disable(access_key_id: str, database_url: str | None) -> None:
    """Refuse every request signed with the pair until it is enabled again."""
    _status(access_key_id, KeyStatus.INACTIVE, database_url)


@key.command("enable")
@_id
@database_option
def key_enable(access_key_id: str, database_url: str | None) -> None:
    """Accept requests signed with the pair again."""
    _status(access_key_id, KeyStatus.ACTIVE, database_url)


@key.command("delete")
@_id
@database_option
def key_delete(access_key_id: str, database_url: str | None) -> None:
    """Move a disabled pair to the recycle bin (30 days, 3 per owner), or delete it at once
    in an account that deletes immediately."""
    with open_services(load(database_url=database_url)) as svc:
        account_id, user_name = _owned(svc, access_key_id)
        params = _params(access_key_id, user_name)
        with acting(svc, account_id, Action.DeleteAccessKey, params) as who:
            svc.keys.delete(who, _ref(user_name), access_key_id)
    click.echo(f"{access_key_id} is deleted.")


def _binned(svc: Services, access_key_id: str) -> tuple[str, str | None, str | None]:
    """A binned pair's account, owner's user ID and user name (None: the root)."""
    owner = svc.keys.whose(access_key_id)
    if owner is None or not owner.key.in_bin:
        fail(EXIT_DOMAIN, f"no AccessKey {access_key_id} in the recycle bin")
    return owner.key.account_id, owner.key.user_id, owner.user_name


@key.command("restore")
@_id
@database_option
def key_restore(access_key_id: str, database_url: str | None) -> None:
    """Bring a pair back from the recycle bin, Active, with the same secret (its user must be
    live)."""
    with open_services(load(database_url=database_url)) as svc:
        account_id, user_id, user_name = _binned(svc, access_key_id)
        params = _params(access_key_id, user_name)
        with acting(svc, account_id, Action.RestoreAccessKeyFromRecycleBin, params) as who:
            svc.keys.restore(who, user_id, access_key_id)
    click.echo(f"{access_key_id} is restored and Active.")


@key.command("purge")
@_id
@database_option
def key_purge(access_key_id: str, database_url: str | None) -> None:
    """Delete a pair in the recycle bin for good. Cannot be undone."""
    with open_services(load(database_url=database_url)) as svc:
        account_id, user_id, user_name = _binned(svc, access_key_id)
        params = _params(access_key_id, user_name)
        with acting(svc, account_id, Action.DeleteAccessKeyInRecycleBin, params) as who:
            svc.keys.purge(who, user_id, access_key_id)
    click.echo(f"{access_key_id} is gone for good.")
