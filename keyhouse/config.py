"""All configuration, read in one place, typed and validated at start-up.

Every setting comes from a command-line flag or, failing that, a ``KEYHOUSE_*`` environment
variable, then the default. ``repr`` masks the master key and database passwords.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
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
    last_used_flush_interval: float = 1.0
    timestamp_tolerance: int = 15 * 60
    nonce_window: int = 31 * 60
    max_body_bytes: int = 1024 * 1024
    worker_threads: int = 16
    log_level: str = "info"
    # Proxies (addresses or CIDR blocks, comma-separated) whose X-Forwarded-For,
    # X-Forwarded-Proto and X-Keyhouse-Vpc-Id headers are believed.
    trusted_proxies: str = ""
    # Audit events kept (days), and how many read/refusal events may wait in memory.
    audit_retention_days: int = 400
    audit_buffer: int = 10_000
    # For measuring what the trail costs (bench/): "off" records nothing. Keep it on.
    audit: bool = True

    def __repr__(self) -> str:
        shown = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "master_key":
                value = "***" if value else None
            elif f.name == "database_url":
                value = _hide_password(value)
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


def _hide_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return url.replace(f":{parts.password}@", ":***@", 1)


_ENV = {
    "database_url": "KEYHOUSE_DATABASE_URL",
    "host": "KEYHOUSE_HOST",
    "port": "KEYHOUSE_PORT",
    "master_key": "KEYHOUSE_MASTER_KEY",
    "master_key_file": "KEYHOUSE_MASTER_KEY_FILE",
    "sweep_interval": "KEYHOUSE_SWEEP_INTERVAL",
    "sweep_lease": "KEYHOUSE_SWEEP_LEASE",
    "last_used_flush_interval": "KEYHOUSE_LAST_USED_FLUSH_INTERVAL",
    "timestamp_tolerance": "KEYHOUSE_TIMESTAMP_TOLERANCE",
    "nonce_window": "KEYHOUSE_NONCE_WINDOW",
    "max_body_bytes": "KEYHOUSE_MAX_BODY_BYTES",
    "worker_threads": "KEYHOUSE_WORKER_THREADS",
    "log_level": "KEYHOUSE_LOG_LEVEL",
    "trusted_proxies": "KEYHOUSE_TRUSTED_PROXIES",
    "audit_retention_days": "KEYHOUSE_AUDIT_RETENTION_DAYS",
    "audit_buffer": "KEYHOUSE_AUDIT_BUFFER",
    "audit": "KEYHOUSE_AUDIT",
}


def env_name(setting: str) -> str:
    return _ENV[setting]


def load_settings(
    overrides: Mapping[str, object | None] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Build settings from flags (``overrides``, None meaning unset), the environment, defaults."""
    env = os.environ if environ is None else environ
    raw: dict[str, object] = {}
    for name, var in _ENV.items():
        if overrides and overrides.get(name) is not None:
            raw[name] = overrides[name]
        elif env.get(var):
            raw[name] = env[var]
    defaults = Settings()
    values: dict[str, object] = {}
    for f in fields(Settings):
        if f.name not in raw:
            continue
        value = raw[f.name]
        default = getattr(defaults, f.name)
        var = _ENV[f.name]
        try:
            if isinstance(default, bool):
                values[f.name] = str(value).lower() in {"1", "true", "yes", "on"}
            elif isinstance(default, int):
                values[f.name] = int(str(value))
            elif isinstance(default, float):
                values[f.name] = float(str(value))
            elif f.name == "master_key_file":
                values[f.name] = Path(str(value))
            else:
                values[f.name] = str(value)
        except ValueError as exc:
            raise ConfigError(f"{var}: {value!r} is not a valid number") from exc
    settings = Settings(**values)  # type: ignore[arg-type]
    _validate(settings)
    return settings


def _validate(s: Settings) -> None:
    if s.backend not in {"sqlite", "postgresql"}:
        raise ConfigError("KEYHOUSE_DATABASE_URL: only sqlite:/// and postgresql+psycopg:// work")
    if not 0 < s.port < 65536:
        raise ConfigError("KEYHOUSE_PORT: must be 1 to 65535")
    for name in ("sweep_interval", "sweep_lease", "last_used_flush_interval"):
        if getattr(s, name) <= 0:
            raise ConfigError(f"{_ENV[name]}: must be positive")
    for name in (
        "timestamp_tolerance",
        "nonce_window",
        "max_body_bytes",
        "worker_threads",
        "audit_retention_days",
        "audit_buffer",
    ):
        if getattr(s, name) <= 0:
            raise ConfigError(f"{_ENV[name]}: must be positive")
    try:
        s.proxy_networks()
    except ValueError as exc:
        raise ConfigError(f"KEYHOUSE_TRUSTED_PROXIES: {exc}") from exc
    if s.nonce_window < 2 * s.timestamp_tolerance:
        # A nonce must be remembered for as long as its timestamp could still be accepted.
        raise ConfigError("KEYHOUSE_NONCE_WINDOW: must be at least twice the timestamp tolerance")
