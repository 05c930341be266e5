"""The credential read every signed request runs, executed on the driver directly.

Profiling a signed request showed SQLAlchemy's execution machinery (connection checkout, events,
compiled-cache lookup, result wrapping) costing more than SQLite took to run the statements. So
it is compiled by SQLAlchemy once per dialect, and then run on a DBAPI connection that
each thread keeps for itself: checked out of the engine once (so the engine's connect-time
settings apply: WAL and busy timeout on SQLite), detached from the pool, in autocommit mode.
Everything else stays on the SQLAlchemy store; the nonce is spent with the request's
group-commit batch (keyhouse.services.trail.committer), durably.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, bindparam, select

from keyhouse.crypto import Sealed
from keyhouse.store.schema import access_keys, accounts, cache_epochs, roles, users

_CREDENTIAL = (
    select(
        access_keys.c.account_id,
        access_keys.c.user_id,
        access_keys.c.status,
        access_keys.c.recycled_at.is_not(None).label("in_bin"),
        access_keys.c.secret_key_id,
        access_keys.c.secret_sealed,
        users.c.name.label("user_name"),
        access_keys.c.protected_reason.is_not(None).label("protected"),
        access_keys.c.network_policy,
        accounts.c.network_policy.label("account_network_policy"),
        cache_epochs.c.epoch,
    )
    .select_from(
        access_keys.join(accounts, accounts.c.account_id == access_keys.c.account_id)
        .join(cache_epochs, cache_epochs.c.account_id == access_keys.c.account_id)
        .outerjoin(users, users.c.user_id == access_keys.c.user_id)
    )
    .where(access_keys.c.access_key_id == bindparam("access_key_id"))
)


_ROLE = (
    select(roles.c.account_id, roles.c.name, accounts.c.network_policy, cache_epochs.c.epoch)
    .select_from(
        roles.join(accounts, accounts.c.account_id == roles.c.account_id).join(
            cache_epochs, cache_epochs.c.account_id == roles.c.account_id
        )
    )
    .where(roles.c.role_id == bindparam("role_id"))
)


@dataclass(frozen=True, slots=True)
class RoleState:
    """What verifying a temporary credential needs to know about its role, right now."""

    account_id: str
    name: str
    account_network_policy: str | None


@dataclass(frozen=True, slots=True)
class Credential:
    """What authentication needs to know about a key, in one indexed read."""

    account_id: str
    user_id: str | None
    user_name: str | None
    status: str
    in_bin: bool
    sealed: Sealed
    protected: bool
    network_policy: str | None  # the key's own, as set
    account_network_policy: str | None


class _Statement:
    """One SQLAlchemy statement compiled for a dialect: SQL text, parameter order, converters."""

    def __init__(self, statement: Any, engine: Engine) -> None:
        dialect = engine.dialect
        compiled = statement.compile(dialect=dialect)
        self.sql = str(compiled)
        # qmark (SQLite) takes a sequence in this order; pyformat (psycopg) takes the mapping.
        self.order: Sequence[str] | None = (
            list(compiled.positiontup) if compiled.positional and compiled.positiontup else None
        )
        self.convert: dict[str, Callable[[Any], Any]] = {}
        for name, bind in compiled.binds.items():
            processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None:
                self.convert[name] = processor

    def parameters(self, values: dict[str, Any]) -> Any:
        for name, convert in self.convert.items():
            values[name] = convert(values[name])
        if self.order is None:
            return values
        return [values[name] for name in self.order]


class HotPath:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._credential = _Statement(_CREDENTIAL, engine)
        self._role = _Statement(_ROLE, engine)
        self._disconnect = engine.dialect.loaded_dbapi.Error
        self._local = threading.local()
        self._open: list[Any] = []
        self._guard = threading.Lock()

    def credential(self, access_key_id: str) -> tuple[int, Credential] | None:
        """(the account's cache epoch, the credential) in one statement, or None."""
        row = self._run(self._credential, {"access_key_id": access_key_id})
        if row is None:
            return None
        account_id, user_id, status, in_bin, key_id, sealed, user_name, protected, own, acct = row[
            :10
        ]
        return int(row[10]), Credential(
            account_id,
            user_id,
            user_name,
            status,
            bool(in_bin),
            Sealed(key_id, bytes(sealed)),
            bool(protected),
            own,
            acct,
        )

    def role(self, role_id: str) -> tuple[int, RoleState] | None:
        """(the account's cache epoch, the role's state), or None when it no longer exists."""
        row = self._run(self._role, {"role_id": role_id})
        if row is None:
            return None
        return int(row[3]), RoleState(row[0], row[1], row[2])

    def _run(self, statement: _Statement, values: dict[str, Any]) -> Any:
        connection = self._connection()
        try:
            cursor = connection.cursor()
            try:
                cursor.execute(statement.sql, statement.parameters(values))
                return cursor.fetchone()
            finally:
                cursor.close()
        except self._disconnect:
            # The connection may be dead (a database restart): the next request opens another.
            self._forget(connection)
            raise

    def _connection(self) -> Any:
        known: Any = getattr(self._local, "connection", None)
        if known is not None:
            return known
        fairy = self.engine.raw_connection()
        connection: Any = fairy.driver_connection
        fairy.detach()
        if self.engine.dialect.name == "sqlite":
            connection.isolation_level = None  # every statement its own transaction
        else:
            connection.autocommit = True
        self._local.connection = connection
        with self._guard:
            self._open.append(connection)
        return connection

    def _forget(self, connection: Any) -> None:
        self._local.connection = None
        with self._guard:
            if connection in self._open:
                self._open.remove(connection)
        with contextlib.suppress(Exception):
            connection.close()

    def dispose(self) -> None:
        with self._guard:
            connections, self._open = self._open, []
        for connection in connections:
            with contextlib.suppress(Exception):
                connection.close()
