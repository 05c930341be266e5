"""``keyhouse serve``: migrate the store, then serve the API and the console."""

from __future__ import annotations

import os
import socket
import sys
from typing import Any

import click

from keyhouse.app import build_app
from keyhouse.cli.common import (
    EXIT_CONFIG,
    EXIT_PORT_IN_USE,
    acting,
    build,
    database_option,
    fail,
    load,
)
from keyhouse.config import Settings, env_name
from keyhouse.domain.actions import Command
from keyhouse.domain.errors import AlreadyExists
from keyhouse.services.registry import Services


@click.command()
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
@click.option(
    "--log-format",
    default=None,
    type=click.Choice(["text", "json"]),
    help="Every log line as readable text (default) or as one JSON object.",
)
@click.option(
    "--metrics-port",
    default=None,
    type=int,
    help="Serve Prometheus metrics on this port (same host); see KEYHOUSE_METRICS.",
)
@database_option
def serve(
    host: str | None,
    port: int | None,
    workers: int,
    certfile: str | None,
    keyfile: str | None,
    log_format: str | None,
    metrics_port: int | None,
    database_url: str | None,
) -> None:
    """Migrate the store and serve the API (creating a default account on an empty store)."""
    import uvicorn

    from keyhouse.api.protocol import KEEP_ALIVE, BoundedHttpToolsProtocol

    settings = load(
        host=host,
        port=port,
        database_url=database_url,
        certfile=certfile,
        keyfile=keyfile,
        log_format=log_format,
        metrics_port=metrics_port,
    )
    if workers > 1 and (settings.metrics or settings.metrics_port):
        # Each worker process counts its own requests: a scrape would see one at random.
        fail(EXIT_CONFIG, "metrics are served with one worker per instance, not --workers N")
    _check_port(settings.host, settings.port)
    if settings.metrics_port:
        _check_port(settings.host, settings.metrics_port)
    services = build(settings)
    _bootstrap(services, settings)
    common: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level,
        # Keep the one format keyhouse.logs set up: uvicorn would install its own.
        "log_config": None,
        "access_log": False,
        "lifespan": "on",
        "server_header": False,
        # The client's address and scheme are the TCP peer's: uvicorn would otherwise take
        # them from X-Forwarded-For / X-Forwarded-Proto of any request from 127.0.0.1. Only
        # KEYHOUSE_TRUSTED_PROXIES are believed, by keyhouse.origin.OriginResolver.
        "proxy_headers": False,
        "http": BoundedHttpToolsProtocol,
        # Idle connections are bounded (keyhouse.api.protocol); this is longer than the
        # deployment's proxy keeps idle upstream connections (15 s), so the server never
        # closes one that the proxy is about to reuse (it would see a reset).
        "timeout_keep_alive": KEEP_ALIVE,
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
            for k in ("database_url", "host", "port", "certfile", "keyfile", "log_format")
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
        fail(EXIT_CONFIG, f"--host: cannot resolve {host}: {exc.strerror}")
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            fail(EXIT_PORT_IN_USE, f"cannot listen on {host}:{port}: {exc.strerror}")


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
        with acting(services, "", Command.CreateAccount, {"AccountName": "default"}):
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
