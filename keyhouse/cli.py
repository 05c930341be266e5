"""The ``keyhouse`` command. Its flags and output formats are an interface: keep them stable."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from keyhouse.app import build_app, build_services
from keyhouse.clock import format_date, parse_date
from keyhouse.config import ConfigError, Settings, env_name, hide_password, load_settings
from keyhouse.crypto import MasterKeyError
from keyhouse.domain.errors import AlreadyExists, DomainError
from keyhouse.domain.model import Account, KeyDeletion, Principal
from keyhouse.services.accounts import OPERATOR
from keyhouse.services.registry import Services
from keyhouse.store.engine import store_exists
from keyhouse.store.migrate import StoreUnavailable, first_line
from keyhouse.store.sql import Purged

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


def store_name(settings: Settings) -> str:
    """The store a command uses, as a person can find it (absolute path, no password)."""
    path = settings.sqlite_path()
    if path is not None:
        return f"sqlite:///{path.resolve()}"
    return hide_password(settings.database_url)


@contextmanager
def _services(settings: Settings, *, create: bool = False) -> Iterator[Services]:
    """Build the services for one command, mapping start-up failures to exit codes. Only
    ``create`` commands (serve, account create, store copy's source) may make a new store:
    any other command in a directory without one says so instead of leaving an empty one."""
    if not create:
        try:
            exists = store_exists(settings.database_url)
        except Exception as exc:
            _fail(EXIT_STORE, f"cannot reach the store: {first_line(exc)}")
        if not exists:
            _fail(EXIT_CONFIG, f"no store at {store_name(settings)}")
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
    # Migrations say what they do at INFO; an operator's terminal needs only their failures.
    logging.getLogger("alembic").setLevel(logging.WARNING)
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
@click.option(
    "--certfile",
    default=None,
    type=click.Path(dir_okay=False),
    help="Serve HTTPS with this PEM certificate (chain); needs --keyfile.",
)
@click.option(
    "--keyfile",
    default=None,
    type=click.Path(dir_okay=False),
    help="The private key of --certfile (PEM).",
)
@database_option
def serve(
    host: str | None,
    port: int | None,
    workers: int,
    certfile: str | None,
    keyfile: str | None,
    database_url: str | None,
) -> None:
    """Migrate the store and serve the API (creating a default account on an empty store)."""
    import uvicorn

    from keyhouse.api.protocol import BoundedHttpToolsProtocol

    settings = _settings(
        host=host, port=port, database_url=database_url, certfile=certfile, keyfile=keyfile
    )
    _check_port(settings.host, settings.port)
    services = _build(settings)
    _bootstrap(services, settings)
    common: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level,
        "access_log": False,
        "lifespan": "on",
        "server_header": False,
        # The client's address and scheme are the TCP peer's: uvicorn would otherwise take
        # them from X-Forwarded-For / X-Forwarded-Proto of any request from 127.0.0.1. Only
        # KEYHOUSE_TRUSTED_PROXIES are believed, by keyhouse.api.wire.OriginResolver.
        "proxy_headers": False,
        "http": BoundedHttpToolsProtocol,
        # Longer than clients and proxies keep idle connections (nginx: 60 s), so the server
        # never closes one that a client is about to reuse (the client sees a reset).
        "timeout_keep_alive": 75,
    }
    if settings.certfile:
        common.update(ssl_certfile=settings.certfile, ssl_keyfile=settings.keyfile)
    if workers == 1:
        uvicorn.run(build_app(settings, services), **common)
        return
    services.store.dispose()
    # Workers rebuild the app from the environment: hand them the settings given as flags.
    os.environ.update(
        {
            env_name(k): str(getattr(settings, k))
            for k in ("database_url", "host", "port", "certfile", "keyfile")
        }
    )
    if settings.master_key is None:
        os.environ[env_name("master_key_file")] = str(settings.key_file_path())
    uvicorn.run("keyhouse.app:create_app", factory=True, workers=workers, **common)


def _check_port(host: str, port: int) -> None:
    """Refuse to start (before creating anything) when the address is taken."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        _fail(EXIT_CONFIG, f"--host: cannot resolve {host}: {exc.strerror}")
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            _fail(EXIT_PORT_IN_USE, f"cannot listen on {host}:{port}: {exc.strerror}")


def _console_url(settings: Settings) -> str:
    host = settings.host
    if host in {"0.0.0.0", "::", ""}:  # noqa: S104 - naming, not binding
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    scheme = "https" if settings.certfile else "http"
    return f"{scheme}://{host}:{settings.port}/console"


def _bootstrap(services: Services, settings: Settings) -> None:
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

The web console is at {_console_url(settings)}
Give the account owner a password first:
keyhouse account set-password --name {account.name}
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
    with _services(settings, create=True) as services:
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
    default=None,
    help="recycle-bin: deleted keys wait 30 days; immediate: deleted keys are gone at once.",
)
@database_option
def account_update(name: str, key_deletion: str | None, database_url: str | None) -> None:
    """Change an account's settings (only those given)."""
    settings = _settings(database_url=database_url)
    with _services(settings) as services:
        if key_deletion is None:
            acct = _account_named(services, name, settings)
            click.echo(
                f"{acct.name}: key deletion is {acct.key_deletion.value} (nothing changed: "
                "give --key-deletion to change it)"
            )
            return
        acct = services.accounts.set_key_deletion(name, KeyDeletion(key_deletion))
        click.echo(f"{acct.name}: key deletion is {acct.key_deletion.value}")


def _account_named(services: Services, name: str, settings: Settings) -> Account:
    found = [a for a in services.accounts.all() if a.name == name]
    if not found:
        _fail(EXIT_DOMAIN, f"no account named {name} in {store_name(settings)}")
    return found[0]


@account.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per line.")
@database_option
def account_list(as_json: bool, database_url: str | None) -> None:
    """Every account of the store."""
    with _services(_settings(database_url=database_url)) as services:
        found = services.accounts.all()
    if as_json:
        for a in found:
            click.echo(json.dumps(_account_fields(a)))
        return
    _table(
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


def _account_fields(a: Account) -> dict[str, Any]:
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
    settings = _settings(database_url=database_url)
    with _services(settings) as services:
        acct = _account_named(services, name, settings)
        keys = services.keys.list_live(Principal("operator", acct.account_id), None)
    fields = _account_fields(acct)
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
    settings = _settings(database_url=database_url)
    with _services(settings) as services:
        acct = _account_named(services, name, settings)
        created = services.keys.create(Principal("operator", acct.account_id), None)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "AccountName": acct.name,
                    "AccessKeyId": created.key.access_key_id,
                    "AccessKeySecret": created.secret,
                }
            )
        )
        return
    click.echo(f"AccessKeyId:     {created.key.access_key_id}")
    click.echo(f"AccessKeySecret: {created.secret}")
    click.echo("The secret is shown this once; store it now.")


def _as_of(_ctx: click.Context, _param: click.Parameter, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_date(value)
    except ValueError as exc:
        raise click.BadParameter("expected a UTC time such as 2026-12-31T00:00:00Z") from exc


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
    settings = _settings(database_url=database_url)
    with _services(settings) as services:
        if not services.keys.protect(access_key_id, reason.strip()):
            _fail(EXIT_DOMAIN, f"no AccessKey {access_key_id} in {store_name(settings)}")
    click.echo(f"{access_key_id} is under leak protection: write-level actions are refused.")


@key.command("unprotect")
@click.argument("access_key_id")
@database_option
def key_unprotect(access_key_id: str, database_url: str | None) -> None:
    """Lift leak protection from the pair."""
    settings = _settings(database_url=database_url)
    with _services(settings) as services:
        if not services.keys.protect(access_key_id, None):
            _fail(EXIT_DOMAIN, f"no AccessKey {access_key_id} in {store_name(settings)}")
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
    _table(("WHERE", "ACCESS KEY ID", "OWNER", "STATUS", "FINDING"), rows)


def _table(header: tuple[str, ...], rows: Sequence[tuple[Any, ...]]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        click.echo("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


@key.command("attempts")
@click.argument("access_key_id")
@click.option("--json", "as_json", is_flag=True, help="Print the events as JSON lines.")
@database_option
def key_attempts(access_key_id: str, as_json: bool, database_url: str | None) -> None:
    """Who still tries to use a disabled, binned or purged pair: time, address, action."""
    settings = _settings(database_url=database_url)
    with _services(settings) as services:
        services.audit.flush()
        _require_known_key(services, settings, access_key_id)
        found = services.trail.attempts(access_key_id)
    if as_json:
        for event in found:
            click.echo(json.dumps(event, sort_keys=True))
        return
    if not found:
        click.echo(f"No refused attempts with {access_key_id} are recorded.")
        return
    _table(
        ("TIME", "SOURCE", "ACTION", "REFUSED WITH", "USER AGENT"),
        [
            (
                e["eventTime"],
                e["sourceIpAddress"],
                e["eventName"],
                e["errorCode"],
                e["userAgent"][:40],
            )
            for e in found
        ],
    )


def _require_known_key(services: Services, settings: Settings, access_key_id: str) -> None:
    """Exit 1 unless the key is in the store or its trail (live, binned or purged)."""
    with services.store.transaction() as tx:
        known = tx.key_owner(access_key_id) is not None
    if not known and not services.trail.history(access_key_id, limit=1):
        _fail(
            EXIT_DOMAIN,
            f"{access_key_id} is unknown to {store_name(settings)} and its audit trail",
        )


@main.command()
@click.argument("access_key_id")
@database_option
def whois(access_key_id: str, database_url: str | None) -> None:
    """Whose AccessKey is this? Live, binned and purged keys (purged ones from the trail)."""
    settings = _settings(database_url=database_url)
    with _services(settings) as services:
        services.audit.flush()
        names = {a.account_id: a.name for a in services.accounts.all()}
        with services.store.transaction() as tx:
            found = tx.key_owner(access_key_id)
        history = services.trail.history(access_key_id)
    used = [e for a, e in history if not e.get("errorCode") and _signed_by(e, access_key_id)]
    where = used[0]["sourceIpAddress"] if used else "never seen"
    if found is not None:
        key, account_name, user_name, _sealed, protected = found
        status = "in recycle bin" if key.in_bin else key.status.value
        rows = [
            ("AccessKeyId", access_key_id),
            ("Account", f"{account_name} ({key.account_id})"),
            ("User", user_name or "(account root)"),
            ("Status", status + (" (under leak protection)" if protected else "")),
            ("Created", format_date(key.created_at)),
            (
                "Last used",
                f"{format_date(key.last_used_at)} ({key.last_used_service})"
                if key.last_used_at
                else "never",
            ),
            ("Last used from", where),
        ]
    elif history:
        account_id = history[0][0]
        created = [e for _, e in history if e["eventName"] == "CreateAccessKey"]
        purged = [e for _, e in history if e["eventName"] == "PurgeAccessKeysFromRecycleBin"]
        owner = next((e["userIdentity"].get("userName") for e in used), None)
        if created:
            owner = created[-1]["requestParameters"].get("UserPrincipalName") or created[-1][
                "requestParameters"
            ].get("UserName", owner)
        rows = [
            ("AccessKeyId", access_key_id),
            ("Account", f"{names.get(account_id, '(deleted account)')} ({account_id})"),
            ("User", owner or "(unknown)"),
            ("Status", "purged" + (f" at {purged[0]['eventTime']}" if purged else "")),
            ("Created", created[-1]["eventTime"] if created else "(before the trail)"),
            ("Last used", used[0]["eventTime"] if used else "never (in the trail)"),
            ("Last used from", where),
        ]
    else:
        _fail(
            EXIT_DOMAIN,
            f"{access_key_id} is unknown to {store_name(settings)} and its audit trail",
        )
        return
    width = max(len(k) for k, _ in rows)
    for label, value in rows:
        click.echo(f"{label.ljust(width)}  {value}")


def _signed_by(event: dict[str, Any], access_key_id: str) -> bool:
    return bool(event.get("userIdentity", {}).get("accessKeyId") == access_key_id)


@main.group()
def audit() -> None:
    """Check and export the audit trail."""


@audit.command("verify")
@click.option("--account", "account_name", default=None, help="Only this account's trail.")
@database_option
def audit_verify(account_name: str | None, database_url: str | None) -> None:
    """Check every account's hash chain; name the first edited, missing or inserted event."""
    settings = _settings(database_url=database_url)
    with _services(settings) as services:
        services.audit.flush()
        names = {a.account_id: a.name for a in services.accounts.all()}
        account_id = None
        if account_name is not None:
            ids_ = [i for i, n in names.items() if n == account_name]
            if not ids_:
                _fail(EXIT_DOMAIN, f"no account named {account_name} in {store_name(settings)}")
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
@click.option(
    "--since", callback=_as_of, required=True, help="UTC time, e.g. 2026-11-01T00:00:00Z."
)
@click.option("--until", callback=_as_of, default=None, help="UTC time (exclusive).")
@database_option
def audit_export(since: datetime, until: datetime | None, database_url: str | None) -> None:
    """Write events as JSON lines (one event per line, every account)."""
    with _services(_settings(database_url=database_url)) as services:
        services.audit.flush()
        for body in services.trail.export(since, until):
            click.echo(body)


@main.group()
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
    settings = _settings(database_url=database_url)
    with _services(settings) as services:
        services.audit.flush()
        _require_known_key(services, settings, access_key_id)
        refused = services.trail.simulate(OPERATOR, access_key_id, document, days)
    if not refused:
        click.echo(f"None of the last {days} days' requests with {access_key_id} would be refused.")
        return
    click.echo(f"{len(refused)} of the last {days} days' requests would have been refused:")
    _table(
        ("TIME", "SOURCE", "ACTION"),
        [(e["eventTime"], e["sourceIpAddress"], e["eventName"]) for e in refused],
    )


@account.command("set-password")
@click.option("--name", required=True, help="The account whose owner signs in with it.")
@database_option
def account_set_password(name: str, database_url: str | None) -> None:
    """Set the account owner's console password (asked for; or one line on stdin)."""
    if sys.stdin.isatty():
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\n")
    with _services(_settings(database_url=database_url)) as services:
        try:
            services.console.set_account_password(name, password)
        except DomainError as exc:
            _fail(EXIT_DOMAIN, exc.message)
    click.echo(f"The owner of {name} can now sign in to the console.")


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
    try:
        target_settings = load_settings({"database_url": target_url})
    except ConfigError as exc:
        _fail(EXIT_CONFIG, str(exc).replace("--database-url", "--to", 1))
    with _services(settings) as services:  # refuses a store whose master key is missing
        target = make_engine(target_settings.database_url)
        try:
            copied = copy_store(services.store.engine, target)
        except TargetNotEmpty as exc:
            _fail(EXIT_DOMAIN, str(exc))
        finally:
            target.dispose()
        for table, rows in copied.items():
            click.echo(f"{table}: {rows} rows")


@main.command()
@click.option(
    "--as-of", callback=_as_of, default=None, help="Sweep as if the clock read this UTC time."
)
@click.option(
    "--yes", is_flag=True, help="With a future --as-of: really purge (else only list what would)."
)
@database_option
def purge(as_of: datetime | None, yes: bool, database_url: str | None) -> None:
    """Run the retention sweep now and print what it purged.

    With --as-of later than now, it lists what such a sweep would purge (things whose
    recycle-bin time is not over yet) and purges nothing unless --yes is given."""
    settings = _settings(database_url=database_url)
    with _services(settings) as services:
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
            _fail(EXIT_DOMAIN, "another instance kept sweeping; try again later")
            return
        click.echo(f"Retention sweep as of {format_date(when)}: purged {len(purged)}.")
        _print_purged(purged)


def _print_purged(items: Sequence[Purged]) -> None:
    for item in items:
        label = "AccessKey" if item.kind == "access_key" else "User"
        click.echo(f"  {label} {item.ident}  account {item.account_id}  {item.detail}")
