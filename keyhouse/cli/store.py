"""``keyhouse store copy`` and ``keyhouse purge``: the store itself, and the retention sweep."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import click

from keyhouse.cli.common import (
    EXIT_CONFIG,
    EXIT_DOMAIN,
    EXIT_STORE,
    as_of,
    database_option,
    fail,
    load,
    open_services,
    store_name,
)
from keyhouse.clock import format_date
from keyhouse.config import ConfigError, load_settings
from keyhouse.store.migrate import StoreUnavailable
from keyhouse.store.sql import Purged


@click.group()
def store() -> None:
    """Operate on the store itself."""


@store.command("copy")
@click.option("--to", "target_url", required=True, help="URL of an empty target store.")
@database_option
def store_copy(target_url: str, database_url: str | None) -> None:
    """Copy every row of this store into an empty one (e.g. SQLite to PostgreSQL)."""
    from keyhouse.store.copy import TargetNotEmpty, copy_store
    from keyhouse.store.engine import make_engine

    settings = load(database_url=database_url)
    try:
        target_settings = load_settings({"database_url": target_url})
    except ConfigError as exc:
        fail(EXIT_CONFIG, str(exc).replace("--database-url", "--to", 1))
    with open_services(settings) as services:  # refuses a store whose master key is missing
        target = make_engine(target_settings.database_url)
        try:
            copied = copy_store(services.store.engine, target)
        except TargetNotEmpty as exc:
            fail(EXIT_DOMAIN, str(exc))
        except StoreUnavailable as exc:
            fail(EXIT_STORE, f"cannot reach the target store: {exc}")
        finally:
            target.dispose()
        for table, rows in copied.items():
            click.echo(f"{table}: {rows} rows")


@click.command()
@click.option(
    "--as-of", callback=as_of, default=None, help="Sweep as if the clock read this UTC time."
)
@click.option(
    "--yes", is_flag=True, help="With a future --as-of: really purge (else only list what would)."
)
@database_option
def purge(as_of: datetime | None, yes: bool, database_url: str | None) -> None:
    """Run the retention sweep now and print what it purged.

    With --as-of later than now, it lists what such a sweep would purge (things whose
    recycle-bin time is not over yet) and purges nothing unless --yes is given."""
    settings = load(database_url=database_url)
    with open_services(settings) as services:
        when = as_of or services.clock.now()
        if when > services.clock.now() and not yes:
            found = services.sweeper.preview(when)
            click.echo(
                f"A sweep as of {format_date(when)} would purge {len(found)} "
                "(nothing was purged; add --yes to purge them now):"
            )
            _print_purged(found)
            return
        patience = 2 * services.sweeper.lease.total_seconds()
        purged = services.sweeper.sweep_waiting(when, patience, time.sleep)
        if purged is None:
            fail(EXIT_DOMAIN, "another instance kept sweeping; try again later")
            return
        click.echo(f"Retention sweep as of {format_date(when)}: purged {len(purged)}.")
        _print_purged(purged)


def _print_purged(items: Sequence[Purged]) -> None:
    for item in items:
        label = "AccessKey" if item.kind == "access_key" else "User"
        click.echo(f"  {label} {item.ident}  account {item.account_id}  {item.detail}")


@click.command("backup")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@database_option
def backup(file: Path, database_url: str | None) -> None:
    """Write a consistent copy of the store to FILE, a new SQLite file, while it serves.

    The sealed secrets and the audit chains go as they are; the master key does not: keep it
    apart, a restore needs it."""
    from keyhouse.store.backup import BackupError, backup_store

    settings = load(database_url=database_url)
    with open_services(settings) as services:  # refuses a store its master key does not open
        try:
            rows = backup_store(services.store.engine, file)
        except BackupError as exc:
            fail(EXIT_DOMAIN, str(exc))
    click.echo(f"Backed up {store_name(settings)} to {file}: {_summary(rows)}.")
    click.echo("The master key is not in the backup: restoring it needs the same key.")


# Rows a restore never takes from a backup: signed-in browsers, one-time notices (a sealed new
# secret among them) and sign-in throttling are of the moment, and a crafted backup could plant
# a session; the derived rows come back on their own.
_NOT_RESTORED = frozenset({"console_sessions", "console_flashes", "signin_failures"})
UNUSABLE_HASH = "!restored-without-its-password"  # no argon2 hash: it opens nothing


def _without_password(row: dict[str, object]) -> dict[str, object]:
    """A login profile whose password hash a backup cannot vouch for: kept, but no password
    opens it until someone with the right sets a new one (UpdateLoginProfile)."""
    return {**row, "password_hash": UNUSABLE_HASH, "password_reset_required": True}


@click.command("restore")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--keep-passwords",
    is_flag=True,
    help="Carry the backup's console password hashes over. Nothing in a backup proves they "
    "are the ones the store held: only for a backup from a place you trust.",
)
@database_option
def restore(file: Path, keep_passwords: bool, database_url: str | None) -> None:
    """Restore the backup FILE into this store, which must be empty (restore before the first
    serve, which would create the default account).

    Every audit chain of the backup is checked with its chain key (sealed under the master
    key) first; a backup whose trail does not verify is refused. Console sessions and notices
    are not restored, nor (without --keep-passwords) console passwords."""
    from keyhouse.store.backup import BackupError, counts, keyed_trail, opened
    from keyhouse.store.copy import TargetNotEmpty, copy_store, ensure_empty
    from keyhouse.store.engine import make_engine

    settings = load(database_url=database_url)
    target = make_engine(settings.database_url)
    try:
        try:
            ensure_empty(target)  # first: a full store is the answer, whatever its key
        except TargetNotEmpty as exc:
            fail(EXIT_DOMAIN, f"{store_name(settings)} is not empty: {exc}")
        except StoreUnavailable as exc:
            fail(EXIT_STORE, f"cannot reach the store: {exc}")
        with opened(file) as backup_url:
            if not keyed_trail(backup_url):
                fail(
                    EXIT_DOMAIN,
                    f"{file} was written before audit chains were keyed: its trail cannot be "
                    "checked. Restore it with the Keyhouse that wrote it, then upgrade.",
                )
            # The backup as a store: migrated to this Keyhouse's schema (a private copy), and
            # its secrets and chain key opened with the master key the restored store will use.
            source = load(database_url=backup_url, master_key_file=settings.key_file_path())
            with open_services(source) as services:
                breaks = services.trail.verify()
                if breaks:
                    first = breaks[0]
                    fail(
                        EXIT_DOMAIN,
                        f"the audit trail in {file} does not verify: account "
                        f"{first.account_id or '-'} event {first.seq}: {first.reason}"
                        + (f" (and {len(breaks) - 1} more chains)" if len(breaks) > 1 else ""),
                    )
                if keep_passwords:
                    skip, rewrite = _NOT_RESTORED, {}
                else:
                    skip = _NOT_RESTORED | {"account_passwords"}
                    rewrite = {"login_profiles": _without_password}
                try:
                    rows = copy_store(services.store.engine, target, skip=skip, rewrite=rewrite)
                except TargetNotEmpty as exc:
                    fail(EXIT_DOMAIN, f"{store_name(settings)} is not empty: {exc}")
                except StoreUnavailable as exc:
                    fail(EXIT_STORE, f"cannot reach the store: {exc}")
            passwords = 0
            if not keep_passwords:  # how many must be set again
                held = counts(Path(backup_url.removeprefix("sqlite:///")))
                passwords = held.get("login_profiles", 0) + held.get("account_passwords", 0)
    except BackupError as exc:
        fail(EXIT_DOMAIN, str(exc))
    finally:
        target.dispose()
    click.echo(f"Restored {file} into {store_name(settings)}: {_summary(rows)}.")
    click.echo("Every audit chain in it was verified.")
    if passwords:
        click.echo(
            f"{passwords} console passwords were not carried over (a backup cannot prove its "
            "password hashes): set them again (UpdateLoginProfile, `keyhouse account "
            "set-password`), or restore with --keep-passwords a backup from a place you trust."
        )


def _summary(rows: dict[str, int]) -> str:
    return (
        f"{rows.get('accounts', 0)} accounts, {rows.get('users', 0)} users, "
        f"{rows.get('access_keys', 0)} AccessKeys, {rows.get('audit_events', 0)} audit events"
    )
