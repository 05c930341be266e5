"""The group-commit batch (keyhouse.services.trail.committer), written on the driver directly.

A batch is the one write every request makes: its cache epochs checked, its nonce spent, its
audit event chained. Profiling showed SQLAlchemy's per-row work (parameter construction, type
processing, statement cache lookups) costing the writer thread as much as the database did, on
the core the event loop needs. So the batch runs a handful of plain SQL statements, built once
per row count, on one DBAPI connection of its own: checked out of the store's (durable)
engine, so its connect-time settings apply, and detached from the pool. The statements do what
``Tx.cache_epochs``, ``Tx.claim_nonces`` and ``Tx.append_events`` do, with the same columns and
the same value conversions (SQLAlchemy's own bind processors); the tests run both.

Errors come out as SQLAlchemy's exception types, so that ``SqlStore.unavailable`` tells an
unreachable store from a refused statement as for every other transaction.
"""

# ruff: noqa: S608 -- the SQL here is built from constants only (table and column names, and
# the driver's placeholder), never from a value; every value is a bound parameter.
from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, exc

from keyhouse.domain.audit import GENESIS, ChainKey
from keyhouse.store.schema import audit_events, nonces
from keyhouse.store.trail import chained

_EVENT_COLUMNS = [c.name for c in audit_events.c]


class BatchTx:
    """One open batch transaction on the raw connection."""

    def __init__(self, writer: BatchWriter, cursor: Any) -> None:
        self._w = writer
        self._cur = cursor

    def cache_epochs(self, account_ids: Iterable[str]) -> dict[str, int]:
        ids = sorted(set(account_ids))
        self._cur.execute(self._w.epochs_sql(len(ids)), ids)
        return {account_id: int(epoch) for account_id, epoch in self._cur.fetchall()}

    def claim_nonces(
        self, claims: Sequence[tuple[str, str, datetime]], now: datetime
    ) -> set[tuple[str, str]]:
        unique: dict[tuple[str, str], datetime] = {}
        for access_key_id, nonce, expires_at in claims:
            unique.setdefault((access_key_id, nonce), expires_at)
        if not unique:
            return set()
        date = self._w.date
        values: list[Any] = []
        for (access_key_id, nonce), expires_at in unique.items():
            values += (access_key_id, nonce, date(expires_at))
        values.append(date(now))
        self._cur.execute(self._w.nonces_sql(len(unique)), values)
        return {(k, n) for k, n in self._cur.fetchall()}

    def record_last_used(self, uses: Sequence[tuple[str, datetime, str]]) -> None:
        """Move last-used forward for each (key, time, service); never backwards."""
        date = self._w.date
        self._cur.executemany(
            self._w.last_used_sql,
            [(date(at), service, key, date(at)) for key, at, service in uses],
        )

    def append_events(self, account_id: str, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        w = self._w
        self._cur.execute(w.new_head_sql, (account_id, GENESIS, GENESIS))
        self._cur.execute(w.head_sql, (account_id,))
        seq, previous = self._cur.fetchone()
        values = chained(w.chain_key(), account_id, int(seq), previous, rows)
        date = w.date
        self._cur.executemany(
            w.events_sql,
            [[date(v[c]) if c == "event_time" else v[c] for c in _EVENT_COLUMNS] for v in values],
        )
        self._cur.execute(w.move_head_sql, (values[-1]["seq"], values[-1]["hash"], account_id))


class BatchWriter:
    """Opens batch transactions; used by the committer's one thread only."""

    def __init__(self, engine: Engine, write_lock: Any, chain_key: Callable[[], ChainKey]) -> None:
        self.engine = engine
        self.write_lock = write_lock
        self.chain_key = chain_key  # the store's, read when a batch is chained
        dialect = engine.dialect
        self.sqlite = dialect.name == "sqlite"
        p = "?" if self.sqlite else "%s"
        self.p = p
        processor = nonces.c.expires_at.type.dialect_impl(dialect).bind_processor(dialect)
        self.date: Callable[[Any], Any] = processor or (lambda value: value)
        self.new_head_sql = (
            "INSERT INTO audit_heads (account_id, seq, hash, pruned_seq, pruned_hash) "
            f"VALUES ({p}, 0, {p}, 0, {p}) ON CONFLICT (account_id) DO NOTHING"
        )
        self.head_sql = f"SELECT seq, hash FROM audit_heads WHERE account_id = {p}" + (
            "" if self.sqlite else " FOR UPDATE"
        )
        self.events_sql = (
            f"INSERT INTO audit_events ({', '.join(_EVENT_COLUMNS)}) "
            f"VALUES ({', '.join([p] * len(_EVENT_COLUMNS))})"
        )
        self.move_head_sql = f"UPDATE audit_heads SET seq = {p}, hash = {p} WHERE account_id = {p}"
        self.last_used_sql = (
            f"UPDATE access_keys SET last_used_at = {p}, last_used_service = {p} "
            f"WHERE access_key_id = {p} AND (last_used_at IS NULL OR last_used_at <= {p})"
        )
        self._dbapi = dialect.loaded_dbapi
        self._connection: Any = None

    @functools.lru_cache(maxsize=64)  # noqa: B019 (one writer per store, for its lifetime)
    def epochs_sql(self, count: int) -> str:
        marks = ", ".join([self.p] * count)
        return f"SELECT account_id, epoch FROM cache_epochs WHERE account_id IN ({marks})"

    @functools.lru_cache(maxsize=256)  # noqa: B019
    def nonces_sql(self, count: int) -> str:
        """Spend ``count`` nonces at once: each row inserted, or taken over if its window has
        closed; the rows that come back are the ones this batch spent."""
        p = self.p
        rows = ", ".join([f"({p}, {p}, {p})"] * count)
        return (
            f"INSERT INTO nonces (access_key_id, nonce, expires_at) VALUES {rows} "
            "ON CONFLICT (access_key_id, nonce) DO UPDATE SET expires_at = excluded.expires_at "
            f"WHERE nonces.expires_at < {p} RETURNING access_key_id, nonce"
        )

    @contextmanager
    def transaction(self) -> Iterator[BatchTx]:
        """One batch: commits on success, rolls back on any exception."""
        with self.write_lock:
            connection = self._connect()
            cursor = connection.cursor()
            try:
                if self.sqlite:
                    cursor.execute("BEGIN IMMEDIATE")
                yield BatchTx(self, cursor)
                if self.sqlite:
                    cursor.execute("COMMIT")
                else:
                    connection.commit()
            except BaseException as error:
                with contextlib.suppress(Exception):
                    if self.sqlite:
                        cursor.execute("ROLLBACK")
                    else:
                        connection.rollback()
                if isinstance(error, self._dbapi.OperationalError | self._dbapi.InterfaceError):
                    self.close()  # perhaps dead (a database restart): the next batch reconnects
                    raise exc.OperationalError("group-commit batch", None, error) from error
                if isinstance(error, self._dbapi.Error):
                    raise exc.DatabaseError("group-commit batch", None, error) from error
                raise
            finally:
                with contextlib.suppress(Exception):
                    cursor.close()

    def _connect(self) -> Any:
        if self._connection is None:
            fairy = self.engine.raw_connection()
            self._connection = fairy.driver_connection
            fairy.detach()
            if self.sqlite:
                self._connection.isolation_level = None  # BEGIN and COMMIT are ours
        return self._connection

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.close()
