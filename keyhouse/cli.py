"""The ``keyhouse`` command. Its flags and output formats are an interface: keep them stable."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from keyhouse.app import build_app, build_services
from keyhouse.clock import format_date, parse_date
from keyhouse.config import ConfigError, Settings, env_name, load_settings
from keyhouse.crypto import MasterKeyError
from keyhouse.domain.errors import AlreadyExists, DomainError
from keyhouse.domain.model import KeyDeletion
from keyhouse.services.registry import Services
from keyhouse.store.migrate import StoreUnavailable

F = TypeVar("F", bound=Callable[..., Any])

EXIT_DOMAIN = 1
EXIT_CONFIG = 2
EXIT_MASTER_KEY = 3
EXIT_STORE = 4


def database_option(fn: F) -> F:
    return click.option(
        "--database-url",
        default=None,
        help="SQLAlchemy URL (default: $KEYHOUSE_DATABASE_URL, else sqlite:///keyhouse.db).",
    )(fn)


def _fail(code: int, message: str) -> None:
    click.echo(f"keyhouse: {message}", err=True)
    sys.exit(code)


def _build(settings: Settings) -> Services:
    """Build the services, mapping start-up failures to a message and an exit code."""
    try:
        return build_services(settings)
    except MasterKeyError as exc:
        _fail(EXIT_MASTER_KEY, f"refusing to run: {exc}")
    except StoreUnavailable as exc:
        _fail(EXIT_STORE, f"cannot reach the store: {exc}")
    raise AssertionError("unreachable")


@contextmanager
def _services(settings: Settings) -> Iterator[Services]:
    """Build the services for one command, mapping start-up failures to exit codes."""
    services = _build(settings)
    try:
        yield services
    except DomainError as exc:
        _fail(EXIT_DOMAIN, exc.message)
    finally:
        services.store.dispose()


def _settings(**overrides: object) -> Settings:
    try:
        settings = load_settings(overrides)
    except ConfigError as exc:
        _fail(EXIT_CONFIG, str(exc))
        raise
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    return settings


@click.group()
@click.version_option(package_name="keyhouse")
def main() -> None:
    """Keyhouse: a self-hosted AccessKey service speaking the Alibaba Cloud RAM/IMS/STS protocol."""


@main.command()
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1).")
@click.option("--port", default=None, type=int, help="Port to listen on (default 8080).")
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Worker processes sharing the port.",
)
@database_option
def serve(host: str | None, port: int | None, workers: int, database_url: str | None) -> None:
    """Migrate the store and serve the API (creating a default account on an empty store)."""
    import uvicorn

    settings = _settings(host=host, port=port, database_url=database_url)
    services = _build(settings)
    _bootstrap(services)
    common: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level,
        "access_log": False,
        "lifespan": "on",
        "server_header": False,
    }
    if workers == 1:
        uvicorn.run(build_app(settings, services), **common)
        return
    services.store.dispose()
    # Workers rebuild the app from the environment: hand them the settings given as flags.
    os.environ.update(
        {env_name(k): str(getattr(settings, k)) for k in ("database_url", "host", "port")}
    )
    if settings.master_key is None:
        os.environ[env_name("master_key_file")] = str(settings.key_file_path())
    uvicorn.run("keyhouse.app:create_app", factory=True, workers=workers, **common)


def _bootstrap(services: Services) -> None:
    if not services.accounts.is_empty():
        return
    try:
        account, created = services.accounts.create("default")
    except AlreadyExists:  # another instance bootstrapped the same store first
        return
    click.echo(
        f"""Keyhouse created the account '{account.name}' (AccountId {account.account_id}).
Its root AccessKey pair is shown this once and never again:

    AccessKeyId:     {created.key.access_key_id}
    AccessKeySecret: {created.secret}

An account's root AccessKey pair can do everything in the account, so it is not recommended for
everyday use. Create a RAM user with its own AccessKey pair instead, for example with the RAM SDK:
CreateUser(UserName='app'), then CreateAccessKey(UserName='app').
"""
    )
    sys.stdout.flush()


@main.group()
def account() -> None:
    """Manage accounts."""


@account.command("create")
@click.option("--name", required=True, help="Account name (lower-case letters, digits, hyphens).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@database_option
def account_create(name: str, as_json: bool, database_url: str | None) -> None:
    """Create an account and its root AccessKey pair (the secret is printed once)."""
    settings = _settings(database_url=database_url)
    with _services(settings) as services:
        acct, created = services.accounts.create(name)
        if as_json:
            click.echo(
                json.dumps(
                    {
                        "AccountId": acct.account_id,
                        "AccountName": acct.name,
                        "AccessKeyId": created.key.access_key_id,
                        "AccessKeySecret": created.secret,
                    }
                )
            )
        else:
            click.echo(f"AccountId:       {acct.account_id}")
            click.echo(f"AccountName:     {acct.name}")
            click.echo(f"DefaultDomain:   {acct.default_domain}")
            click.echo(f"AccessKeyId:     {created.key.access_key_id}")
            click.echo(f"AccessKeySecret: {created.secret}")
            click.echo("The secret is shown this once; store it now.")


@account.command("update")
@click.option("--name", required=True, help="The account to change.")
@click.option(
    "--key-deletion",
    type=click.Choice([m.value for m in KeyDeletion]),
    default=KeyDeletion.RECYCLE_BIN.value,
    show_default=True,
    help="recycle-bin: deleted keys wait 30 days; immediate: deleted keys are gone at once.",
)
@database_option
def account_update(name: str, key_deletion: str, database_url: str | None) -> None:
    """Change an account's settings."""
    settings = _settings(database_url=database_url)
    with _services(settings) as services:
        acct = services.accounts.set_key_deletion(name, KeyDeletion(key_deletion))
        click.echo(f"{acct.name}: key deletion is {acct.key_deletion.value}")


@main.group()
def key() -> None:
    """Operate on one AccessKey pair (any account)."""


@key.command("protect")
@click.argument("access_key_id")
@click.option("--reason", required=True, help="Why the pair is suspected of leaking.")
@database_option
def key_protect(access_key_id: str, reason: str, database_url: str | None) -> None:
    """Refuse every write-level action signed with the pair (reads still work)."""
    if not reason.strip() or len(reason) > 256:
        _fail(EXIT_CONFIG, "--reason must be 1 to 256 characters")
    with _services(_settings(database_url=database_url)) as services:
        if not services.keys.protect(access_key_id, reason.strip()):
            _fail(EXIT_DOMAIN, f"no AccessKey {access_key_id} in this store")
    click.echo(f"{access_key_id} is under leak protection: write-level actions are refused.")


@key.command("unprotect")
@click.argument("access_key_id")
@database_option
def key_unprotect(access_key_id: str, database_url: str | None) -> None:
    """Lift leak protection from the pair."""
    with _services(_settings(database_url=database_url)) as services:
        if not services.keys.protect(access_key_id, None):
            _fail(EXIT_DOMAIN, f"no AccessKey {access_key_id} in this store")
    click.echo(f"{access_key_id} is no longer under leak protection.")


def _sources(paths: tuple[str, ...]) -> Iterator[tuple[str, list[str]]]:
    for given in paths:
        if given == "-":
            yield "-", sys.stdin.read().splitlines()
            continue
        path = Path(given)
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            try:
                with file.open("rb") as handle:
                    data = handle.read()
            except OSError as exc:
                _fail(EXIT_CONFIG, f"cannot read {file}: {exc.strerror}")
            if b"\0" in data[:8192]:
                continue  # binary
            yield str(file), data.decode("utf-8", "replace").splitlines()


@main.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print findings as a JSON list.")
@click.option("--protect", is_flag=True, help="Put every confirmed key under leak protection.")
@database_option
def scan(paths: tuple[str, ...], as_json: bool, protect: bool, database_url: str | None) -> None:
    """Find AccessKey IDs (and their secrets) in files, directories or stdin (-).

    Exits 1 when a confirmed leak (an ID with its matching secret) is found. Never prints a
    secret."""
    with _services(_settings(database_url=database_url)) as services:
        findings = [f for name, lines in _sources(paths) for f in services.leaks.scan(name, lines)]
        if protect:
            protected = set()
            for finding in findings:
                if finding.confirmed and finding.access_key_id not in protected:
                    reason = f"confirmed leak found by keyhouse scan in {finding.source}"
                    services.keys.protect(finding.access_key_id, reason[:256])
                    protected.add(finding.access_key_id)
            findings = [
                dataclasses.replace(f, protected=f.protected or f.access_key_id in protected)
                for f in findings
            ]
    if as_json:
        click.echo(json.dumps([f.as_dict() for f in findings], indent=2))
    else:
        _print_findings(findings)
    if any(f.confirmed for f in findings):
        sys.exit(1)


def _print_findings(findings: list[Any]) -> None:
    if not findings:
        click.echo("No AccessKey IDs found.")
        return
    rows = [
        (
            f"{f.source}:{f.line}",
            f.access_key_id,
            f.owner or "(not in this store)",
            f.status,
            ("CONFIRMED" if f.confirmed else "suspect") + (" (protected)" if f.protected else ""),
        )
        for f in findings
    ]
    header = ("WHERE", "ACCESS KEY ID", "OWNER", "STATUS", "FINDING")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


@main.group()
def store() -> None:
    """Operate on the store itself."""


@store.command("copy")
@click.option("--to", "target_url", required=True, help="URL of an empty target store.")
@database_option
def store_copy(target_url: str, database_url: str | None) -> None:
    """Copy every row of this store into an empty one (e.g. SQLite to PostgreSQL)."""
    from keyhouse.store.copy import TargetNotEmpty, copy_store
    from keyhouse.store.engine import make_engine

    settings = _settings(database_url=database_url)
    with _services(settings) as services:  # refuses a store whose master key is missing
        target = make_engine(load_settings({"database_url": target_url}).database_url)
        try:
            copied = copy_store(services.store.engine, target)
        except TargetNotEmpty as exc:
            _fail(EXIT_DOMAIN, str(exc))
        finally:
            target.dispose()
        for table, rows in copied.items():
            click.echo(f"{table}: {rows} rows")


def _as_of(_ctx: click.Context, _param: click.Parameter, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_date(value)
    except ValueError as exc:
        raise click.BadParameter("expected a UTC time such as 2026-12-31T00:00:00Z") from exc


@main.command()
@click.option(
    "--as-of", callback=_as_of, default=None, help="Sweep as if the clock read this UTC time."
)
@database_option
def purge(as_of: datetime | None, database_url: str | None) -> None:
    """Run the retention sweep now and print what it purged."""
    settings = _settings(database_url=database_url)
    with _services(settings) as services:
        when = as_of or services.clock.now()
        patience = 2 * services.sweeper.lease.total_seconds()
        purged = services.sweeper.sweep_waiting(when, patience, time.sleep)
        if purged is None:
            _fail(EXIT_DOMAIN, "another instance kept sweeping; try again later")
            return
        click.echo(f"Retention sweep as of {format_date(when)}: purged {len(purged)}.")
        for item in purged:
            label = "AccessKey" if item.kind == "access_key" else "User"
            click.echo(f"  {label} {item.ident}  account {item.account_id}  {item.detail}")
