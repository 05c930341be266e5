"""What every ``keyhouse`` command shares: settings, the services, exit codes, output, and
the operator's audit event."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, NoReturn, TypeVar

import click

from keyhouse.app import build_services
from keyhouse.clock import parse_date
from keyhouse.config import ConfigError, Settings, hide_password, load_settings
from keyhouse.crypto import MasterKeyError
from keyhouse.domain.actions import Action, Command
from keyhouse.domain.errors import DomainError
from keyhouse.domain.model import Account
from keyhouse.logs import configure as configure_logs
from keyhouse.services.registry import Services
from keyhouse.services.trail.surface import Surface, operator
from keyhouse.store.engine import store_exists
from keyhouse.store.migrate import StoreUnavailable, first_line

F = TypeVar("F", bound=Callable[..., Any])

EXIT_DOMAIN = 1
EXIT_CONFIG = 2
EXIT_MASTER_KEY = 3
EXIT_STORE = 4
EXIT_PORT_IN_USE = 5


def database_option(fn: F) -> F:
    return click.option(
        "--database-url",
        default=None,
        help="SQLAlchemy URL (default: $KEYHOUSE_DATABASE_URL, else sqlite:///keyhouse.db).",
    )(fn)


def fail(code: int, message: str) -> NoReturn:
    click.echo(f"keyhouse: {message}", err=True)
    sys.exit(code)


def build(settings: Settings) -> Services:
    """Build the services, mapping start-up failures to a message and an exit code."""
    try:
        return build_services(settings)
    except MasterKeyError as exc:
        fail(EXIT_MASTER_KEY, f"refusing to run: {exc}")
    except StoreUnavailable as exc:
        fail(EXIT_STORE, f"cannot reach the store: {exc}")


def store_name(settings: Settings) -> str:
    """The store a command uses, as a person can find it (absolute path, no password)."""
    path = settings.sqlite_path()
    if path is not None:
        return f"sqlite:///{path.resolve()}"
    return hide_password(settings.database_url)


@contextmanager
def open_services(settings: Settings, *, create: bool = False) -> Iterator[Services]:
    """Build the services for one command, mapping start-up failures to exit codes. Only
    ``create`` commands (serve, account create, store copy's source) may make a new store:
    any other command in a directory without one says so instead of leaving an empty one."""
    if not create:
        try:
            exists = store_exists(settings.database_url)
        except Exception as exc:
            fail(EXIT_STORE, f"cannot reach the store: {first_line(exc)}")
        if not exists:
            fail(EXIT_CONFIG, f"no store at {store_name(settings)}")
    services = build(settings)
    try:
        yield services
    except DomainError as exc:
        fail(EXIT_DOMAIN, exc.message)
    finally:
        services.store.dispose()


@contextmanager
def on_account(
    account_name: str,
    what: Action | Command,
    params: dict[str, str],
    database_url: str | None,
) -> Iterator[tuple[Services, Any, Account]]:
    """One operator command on a named account: the services, the operator (inside the
    command's one event, :func:`acting`) and the account."""
    with open_services(load(database_url=database_url)) as svc:
        account = svc.accounts.named(account_name)
        with acting(svc, account.account_id, what, params) as who:
            yield svc, who, account


def load(**overrides: object) -> Settings:
    try:
        settings = load_settings(overrides)
    except ConfigError as exc:
        fail(EXIT_CONFIG, str(exc))
    configure_logs(settings.log_level, settings.log_format)
    return settings


def table(header: tuple[str, ...], rows: Sequence[tuple[Any, ...]]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        click.echo("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def as_of(_ctx: click.Context, _param: click.Parameter, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_date(value)
    except ValueError as exc:
        raise click.BadParameter("expected a UTC time such as 2026-12-31T00:00:00Z") from exc


CLI = Surface("OperatorCommand", "cli", user_agent="keyhouse-cli")


@contextmanager
def acting(
    svc: Services, account_id: str, what: Action | Command, params: dict[str, str]
) -> Iterator[Any]:
    """One audit event for an operator's command on one account (the operator, named by its
    OS user and host, is the principal): the command's use-cases run inside."""
    who = operator(account_id)
    with svc.acting.event(CLI, who, what, params):
        yield who
