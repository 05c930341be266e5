"""All configuration, read in one place, typed and validated at start-up.

Every setting comes from a command-line flag or, failing that, a ``KEYHOUSE_*`` environment
variable, then the default. ``repr`` masks the master key and database passwords.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from urllib.parse import unquote, urlsplit

DEFAULT_DATABASE_URL = "sqlite:///keyhouse.db"


class ConfigError(Exception):
    """A setting is malformed; the message names it."""


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    host: str = "127.0.0.1"
    port: int = 8080
    master_key: str | None = field(default=None, repr=False)
    master_key_file: Path | None = None
    sweep_interval: float = 300.0
    sweep_lease: float = 60.0
    timestamp_tolerance: int = 15 * 60
    nonce_window: int = 31 * 60
    max_body_bytes: int = 1024 * 1024
    worker_threads: int = 16
    log_level: str = "info"
    # "text" (one human-readable line per record) or "json" (one JSON object per line).
    log_format: str = "text"
    # Prometheus metrics: at /metrics on the API port when true, and/or on a port of their
    # own (0: none), which listens on the same host.
    metrics: bool = False
    metrics_port: int = 0
    # Proxies (addresses or CIDR blocks, comma-separated) whose X-Forwarded-For,
    # X-Forwarded-Proto and X-Keyhouse-Vpc-Id headers are believed.
    trusted_proxies: str = ""
    # Authentication failures an address may have a minute (and at once) before its requests
    # are refused unread for a while (keyhouse.services.throttle); 0 turns it off.
    auth_failures_per_minute: int = 60
    # Audit events kept (days), and how many read/refusal events may wait in memory.
    audit_retention_days: int = 400
    audit_buffer: int = 10_000
    # For measuring what the trail costs (bench/): "off" records nothing. Keep it on.
    audit: bool = True
    # For measuring the hot reads' lane (bench/) and testing it against the general path:
    # "off" answers GetCallerIdentity and ListAccessKeys on the general path. Keep it on.
    hot_lane: bool = True
    # Seconds an audit event that the store refuses is retried before it is set aside.
    audit_set_aside_after: float = 30.0
    # Serve HTTPS: a PEM certificate chain and its private key (both, or neither).
    certfile: str = ""
    keyfile: str = ""

    def __repr__(self) -> str:
        shown = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "master_key":
                value = "***" if value else None
            elif f.name == "database_url":
                value = hide_password(value)
            shown.append(f"{f.name}={value!r}")
        return f"Settings({', '.join(shown)})"

    def proxy_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        parts = [p.strip() for p in self.trusted_proxies.split(",") if p.strip()]
        return tuple(ipaddress.ip_network(p, strict=False) for p in parts)

    @property
    def backend(self) -> str:
        """``sqlite`` or ``postgresql`` (the URL scheme without its driver)."""
        return _backend(self.database_url)

    def sqlite_path(self) -> Path | None:
        """The SQLite file, or None for PostgreSQL and in-memory databases."""
        if self.backend != "sqlite":
            return None
        path = unquote(self.database_url.split(":///", 1)[1]) if ":///" in self.database_url else ""
        return Path(path) if path and path != ":memory:" else None

    def key_file_path(self) -> Path:
        """The master key file: explicit, else beside the SQLite file, else the working dir."""
        if self.master_key_file is not None:
            return self.master_key_file
        database = self.sqlite_path()
        if database is not None:
            return database.resolve().parent / (database.stem + ".key")
        return Path.cwd() / "keyhouse.key"


def _backend(url: str) -> str:
    return url.split(":", 1)[0].split("+", 1)[0].lower() if ":" in url else ""


def hide_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return url.replace(f":{parts.password}@", ":***@", 1)


# Every setting's environment variable: KEYHOUSE_ and the field's name in capitals.
_ENV = {f.name: f"KEYHOUSE_{f.name.upper()}" for f in fields(Settings)}
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def env_name(setting: str) -> str:
    return _ENV[setting]


def load_settings(
    overrides: Mapping[str, object | None] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Build settings from flags (``overrides``, None meaning unset), the environment, defaults.
    A value that cannot be read is a ConfigError naming where it came from (the flag, or the
    environment variable), never a default silently taken instead."""
    env = os.environ if environ is None else environ
    raw: dict[str, object] = {}
    source: dict[str, str] = {}
    for name, var in _ENV.items():
        if overrides and overrides.get(name) is not None:
            raw[name] = overrides[name]
            source[name] = "--" + name.replace("_", "-")
        elif env.get(var):
            raw[name] = env[var]
            source[name] = var
    defaults = Settings()
    values: dict[str, object] = {}
    for f in fields(Settings):
        if f.name not in raw:
            continue
        value = raw[f.name]
        default = getattr(defaults, f.name)
        where = source[f.name]
        if isinstance(default, bool):
            lowered = str(value).strip().lower()
            if lowered not in _TRUE | _FALSE:
                raise ConfigError(f"{where}: {value!r} is not a boolean (use true or false)")
            values[f.name] = lowered in _TRUE
            continue
        try:
            if isinstance(default, int):
                values[f.name] = int(str(value))
            elif isinstance(default, float):
                values[f.name] = float(str(value))
            elif f.name == "master_key_file":
                values[f.name] = Path(str(value))
            else:
                values[f.name] = str(value)
        except ValueError as exc:
            raise ConfigError(f"{where}: {value!r} is not a valid number") from exc
    settings = Settings(**values)  # type: ignore[arg-type]
    _validate(settings, lambda name: source.get(name, _ENV[name]))
    return settings


def _validate(s: Settings, where: Callable[[str], str]) -> None:
    _validate_database_url(s.database_url, where("database_url"))
    if not 0 < s.port < 65536:
        raise ConfigError(f"{where('port')}: must be 1 to 65535")
    if not 0 <= s.metrics_port < 65536 or (s.metrics_port and s.metrics_port == s.port):
        raise ConfigError(f"{where('metrics_port')}: must be 1 to 65535, not the API's port")
    if s.auth_failures_per_minute < 0:
        raise ConfigError(f"{where('auth_failures_per_minute')}: must be 0 (off) or more")
    if s.log_format not in ("text", "json"):
        raise ConfigError(f"{where('log_format')}: must be text or json")
    for name in (
        "sweep_interval",
        "sweep_lease",
        "timestamp_tolerance",
        "nonce_window",
        "max_body_bytes",
        "worker_threads",
        "audit_retention_days",
        "audit_buffer",
        "audit_set_aside_after",
    ):
        if getattr(s, name) <= 0:
            raise ConfigError(f"{where(name)}: must be positive")
    try:
        s.proxy_networks()
    except ValueError as exc:
        raise ConfigError(f"{where('trusted_proxies')}: {exc}") from exc
    _validate_tls(s, where)
    if s.nonce_window < 2 * s.timestamp_tolerance:
        # A nonce must be remembered for as long as its timestamp could still be accepted.
        raise ConfigError(
            f"{where('nonce_window')}: must be at least twice the timestamp tolerance"
        )


def _validate_tls(s: Settings, where: Callable[[str], str]) -> None:
    """Both files or neither, and a pair that TLS can actually use."""
    if bool(s.certfile) != bool(s.keyfile):
        given, missing = ("certfile", "keyfile") if s.certfile else ("keyfile", "certfile")
        raise ConfigError(f"{where(given)}: HTTPS needs --{missing} (or {_ENV[missing]}) as well")
    if not s.certfile:
        return
    import ssl

    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(s.certfile, s.keyfile)
    except (OSError, ssl.SSLError) as exc:
        reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or str(exc)
        raise ConfigError(
            f"{where('certfile')}/{where('keyfile')}: cannot use this certificate and key "
            f"({reason})"
        ) from exc


def _validate_database_url(url: str, where: str) -> None:
    """Only URLs Keyhouse can open for good: a SQLite file by path, or PostgreSQL."""
    backend = _backend(url)
    if backend == "postgresql":
        if not url.startswith(("postgresql://", "postgresql+psycopg://")):
            raise ConfigError(f"{where}: use postgresql+psycopg://user@host:port/database")
        return
    if backend != "sqlite":
        raise ConfigError(
            f"{where}: {hide_password(url)!r} is not supported; use sqlite:///path/to/file.db "
            "or postgresql+psycopg://user@host:port/database"
        )
    if not url.startswith("sqlite:///"):
        raise ConfigError(
            f"{where}: a SQLite URL is sqlite:/// and a path (sqlite:///keyhouse.db is "
            "relative to the working directory, sqlite:////var/lib/keyhouse.db absolute)"
        )
    path = unquote(url[len("sqlite:///") :].split("?", 1)[0])
    if not path or path == ":memory:" or path.startswith("file:"):
        raise ConfigError(
            f"{where}: Keyhouse keeps keys in a file; an in-memory SQLite database would lose "
            "them (give a path such as sqlite:///keyhouse.db)"
        )
