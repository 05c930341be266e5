"""The durable writes every request makes, written once: its cache epochs checked, its nonce
spent, its AccessKey's last-used note moved forward, its audit event chained.

They run as plain SQL on a driver cursor: the group-commit batch's own connection
(keyhouse.store.batch), or the connection under a SQLAlchemy transaction when a change writes
its event and nonce itself, or the retention sweep writes its events (keyhouse.store.sql.Tx).
Profiling showed SQLAlchemy's per-row work costing the batch writer as much as the database
did, so the statements are built once per backend (and per row count) here, with the values
converted as the SQLAlchemy column types convert them (keyhouse.store.dialect.Backend.date).

Driver errors come out as SQLAlchemy's exception types, so that callers tell an unreachable
store from a refused statement as for every other statement.
"""

# ruff: noqa: S608 -- the SQL here is built from constants only (table and column names, and
# the driver's placeholder), never from a value; every value is a bound parameter.
from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import exc

from keyhouse.domain.audit import GENESIS, ChainKey
from keyhouse.store.dialect import Backend
from keyhouse.store.schema import audit_events

EVENT_COLUMNS = [c.name for c in audit_events.c]


def chained(
    key: ChainKey, account_id: str, seq: int, previous: str, rows: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """``rows`` as audit_events rows following the head (seq, hash): numbered and hashed."""
    values = []
    digest_of = key.digest
    for row in rows:
        seq += 1
        digest = digest_of(account_id, seq, previous, row["body"])
        values.append(
            {**row, "account_id": account_id, "seq": seq, "prev_hash": previous, "hash": digest}
        )
        previous = digest
    return values


class DurableSql:
    """The statements of the durable writes for one backend."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        p = backend.placeholder
        self.p = p
        self.new_head = (
            "INSERT INTO audit_heads (account_id, seq, hash, pruned_seq, pruned_hash) "
            f"VALUES ({p}, 0, {p}, 0, {p}) ON CONFLICT (account_id) DO NOTHING"
        )
        self.head = f"SELECT seq, hash FROM audit_heads WHERE account_id = {p}" + (
            backend.lock_suffix
        )
        self.events = (
            f"INSERT INTO audit_events ({', '.join(EVENT_COLUMNS)}) "
            f"VALUES ({', '.join([p] * len(EVENT_COLUMNS))})"
        )
        self.move_head = f"UPDATE audit_heads SET seq = {p}, hash = {p} WHERE account_id = {p}"
        self.last_used = (
            f"UPDATE access_keys SET last_used_at = {p}, last_used_service = {p} "
            f"WHERE access_key_id = {p} AND (last_used_at IS NULL OR last_used_at <= {p})"
        )

    @functools.lru_cache(maxsize=64)  # noqa: B019 (one per backend, for the process)
    def epochs(self, count: int) -> str:
        marks = ", ".join([self.p] * count)
        return f"SELECT account_id, epoch FROM cache_epochs WHERE account_id IN ({marks})"

    @functools.lru_cache(maxsize=256)  # noqa: B019
    def nonces(self, count: int) -> str:
        """Spend ``count`` nonces at once: each row inserted, or taken over if its window has
        closed; the rows that come back are the ones this statement spent."""
        p = self.p
        rows = ", ".join([f"({p}, {p}, {p})"] * count)
        return (
            f"INSERT INTO nonces (access_key_id, nonce, expires_at) VALUES {rows} "
            "ON CONFLICT (access_key_id, nonce) DO UPDATE SET expires_at = excluded.expires_at "
            f"WHERE nonces.expires_at < {p} RETURNING access_key_id, nonce"
        )


@functools.cache
def durable_sql(backend: Backend) -> DurableSql:
    return DurableSql(backend)


@contextmanager
def _as_sqlalchemy_errors(dbapi: Any) -> Iterator[None]:
    try:
        yield
    except (dbapi.OperationalError, dbapi.InterfaceError) as error:
        raise exc.OperationalError("durable write", None, error) from error
    except dbapi.Error as error:
        raise exc.DatabaseError("durable write", None, error) from error


class DurableWrites:
    """The durable writes on one open transaction's driver cursor."""

    def __init__(self, sql: DurableSql, cursor: Any, chain_key: ChainKey, dbapi: Any) -> None:
        self._sql = sql
        self._cur = cursor
        self._chain_key = chain_key
        self._dbapi = dbapi

    def cache_epochs(self, account_ids: Iterable[str]) -> dict[str, int]:
        """Each account's cache epoch now (keyhouse.store.cache)."""
        ids = sorted(set(account_ids))
        with _as_sqlalchemy_errors(self._dbapi):
            self._cur.execute(self._sql.epochs(len(ids)), ids)
            return {account_id: int(epoch) for account_id, epoch in self._cur.fetchall()}

    def claim_nonces(
        self, claims: Sequence[tuple[str, str, datetime]], now: datetime
    ) -> set[tuple[str, str]]:
        """Spend nonces ((AccessKey ID, nonce, window end) each); returns those that were
        free: unseen, or seen with a closed window. A nonce given twice is spent once."""
        unique: dict[tuple[str, str], datetime] = {}
        for access_key_id, nonce, expires_at in claims:
            unique.setdefault((access_key_id, nonce), expires_at)
        if not unique:
            return set()
        date = self._sql.backend.date
        values: list[Any] = []
        for (access_key_id, nonce), expires_at in unique.items():
            values += (access_key_id, nonce, date(expires_at))
        values.append(date(now))
        with _as_sqlalchemy_errors(self._dbapi):
            self._cur.execute(self._sql.nonces(len(unique)), values)
            return {(k, n) for k, n in self._cur.fetchall()}

    def record_last_used(self, uses: Sequence[tuple[str, datetime, str]]) -> None:
        """Move last-used forward for each (key, time, service); never backwards."""
        if not uses:
            return
        date = self._sql.backend.date
        with _as_sqlalchemy_errors(self._dbapi):
            self._cur.executemany(
                self._sql.last_used,
                [(date(at), service, key, date(at)) for key, at, service in uses],
            )

    def append_events(self, account_id: str, rows: Sequence[Mapping[str, Any]]) -> None:
        """Chain and insert events (each: the audit_events columns but seq and hashes), the
        account's chain head held until commit."""
        if not rows:
            return
        sql = self._sql
        date = sql.backend.date
        with _as_sqlalchemy_errors(self._dbapi):
            self._cur.execute(sql.new_head, (account_id, GENESIS, GENESIS))
            self._cur.execute(sql.head, (account_id,))
            seq, previous = self._cur.fetchone()
            values = chained(self._chain_key, account_id, int(seq), previous, rows)
            self._cur.executemany(
                sql.events,
                [
                    [date(v[c]) if c == "event_time" else v[c] for c in EVENT_COLUMNS]
                    for v in values
                ],
            )
            self._cur.execute(sql.move_head, (values[-1]["seq"], values[-1]["hash"], account_id))
