"""What a backend must supply, and every difference between the two Keyhouse has.

Keyhouse speaks SQL through SQLAlchemy Core almost everywhere; where the backends differ, the
difference is a :class:`Backend` here, chosen once per engine by :func:`backend_of`. Adding a
backend means one more :class:`Backend` (and its engine recipe in keyhouse.store.engine),
supplying:

- ``placeholder``: the driver's parameter mark for the raw statements of the group commit
  and the hot read (keyhouse.store.durable, keyhouse.store.hot), which run on the driver
  directly for speed.
- ``lock_suffix``: how a ``SELECT`` holds the rows it read until commit (the audit chain's
  head). A backend that serialises writers instead (SQLite) gives ``""``.
- ``raw_begin``: what opens a write transaction on a raw connection, or None when the driver
  opens one itself (psycopg).
- ``insert``: an ``INSERT`` construct with ``ON CONFLICT`` (upserts: nonces, leases, sign-in
  attempts, chain heads).
- its driver's errors in :func:`driver_unavailable`: whether one means the store is away or
  busy (the caller answers 503 and may retry) rather than that the statement cannot succeed.
- :meth:`Backend.date`: a datetime as the driver takes it, with the same conversion the
  SQLAlchemy column type applies (keyhouse.store.schema.UTCDateTime).

Connection set-up (SQLite's WAL, busy timeout and BEGIN handling; PostgreSQL's pool) lives in
keyhouse.store.engine; a consistent copy of a serving store in keyhouse.store.backup (SQLite's
backup API) and keyhouse.store.copy (PostgreSQL's REPEATABLE READ snapshot); the migration lock
in keyhouse.store.migrate (PostgreSQL's advisory lock).
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Dialect

from keyhouse.store.schema import nonces

# What SQLite says when its file cannot be used for now (locked by another process, read-only,
# gone), rather than that a statement is wrong.
_SQLITE_AWAY = ("locked", "busy", "unable to open", "readonly", "disk I/O")


@dataclass(frozen=True)
class Backend:
    name: str  # SQLAlchemy's dialect name
    placeholder: str
    lock_suffix: str
    raw_begin: str | None
    insert: Callable[..., Any]
    date: Callable[[Any], Any]


@functools.cache
def _backend(name: str, dialect: Dialect) -> Backend:
    processor = nonces.c.expires_at.type.dialect_impl(dialect).bind_processor(dialect)
    date: Callable[[Any], Any] = processor or (lambda value: value)
    if name == "sqlite":
        return Backend(name, "?", "", "BEGIN IMMEDIATE", sqlite_insert, date)
    if name == "postgresql":
        return Backend(name, "%s", " FOR UPDATE", None, postgresql_insert, date)
    raise ValueError(f"Keyhouse has no backend for {name}")


def backend_of(dialect: Dialect) -> Backend:
    """The backend of a SQLAlchemy dialect (an engine's or a connection's ``.dialect``)."""
    return _backend(dialect.name, dialect)


def driver_unavailable(error: BaseException) -> bool:
    """Whether a driver's own error (raised where Keyhouse speaks to the driver directly) says
    the store is away or busy. Classifies; never raises."""
    if isinstance(error, psycopg.OperationalError | psycopg.InterfaceError):
        return True
    return isinstance(error, sqlite3.OperationalError) and any(
        sign in str(error) for sign in _SQLITE_AWAY
    )
