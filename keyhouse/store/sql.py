"""The SQLAlchemy implementation of the store. Every method runs inside one transaction."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from keyhouse.crypto import Sealed
from keyhouse.domain.audit import ChainKey, NoChainKey
from keyhouse.domain.gateway import ServiceDefinition
from keyhouse.domain.model import AccessKey, Account, User
from keyhouse.store.access import AccessControlTx
from keyhouse.store.accounts import AccountsTx
from keyhouse.store.cache import CacheMiss, MemoryScope, ReadCache, current_memory_scope
from keyhouse.store.console import ConsoleTx
from keyhouse.store.dialect import backend_of, driver_unavailable
from keyhouse.store.durable import DurableWrites, durable_sql
from keyhouse.store.engine import BUSY_TIMEOUT, WRITE_OPTION, SqliteWriteLock
from keyhouse.store.hot import HotPath
from keyhouse.store.keys import KeysTx, Purged
from keyhouse.store.mfa import MFATx
from keyhouse.store.roles import RolesTx
from keyhouse.store.sealing import SealingTx
from keyhouse.store.services import ServicesTx
from keyhouse.store.trail import TrailTx
from keyhouse.store.users import UsersTx

__all__ = ["Purged", "SqlStore", "Tx"]


class Tx(
    AccountsTx,
    UsersTx,
    KeysTx,
    RolesTx,
    AccessControlTx,
    TrailTx,
    ConsoleTx,
    SealingTx,
    ServicesTx,
    MFATx,
):
    """One open transaction. Methods return domain objects; ``None`` means "no such row"."""

    def __init__(self, conn: Connection, chain_key: ChainKey) -> None:
        self._c = conn
        self.chain_key = chain_key
        # Accounts this transaction read: a write drops their cached rows once it commits.
        self.accounts_read: set[str] = set()

    # -- the durable writes (keyhouse.store.durable), on this transaction's own connection ----
    @contextmanager
    def _durable(self) -> Iterator[DurableWrites]:
        dialect = self._c.dialect
        sql = durable_sql(backend_of(dialect))
        cursor = self._c.connection.cursor()
        try:
            yield DurableWrites(sql, cursor, self.chain_key, dialect.loaded_dbapi)
        finally:
            cursor.close()

    def claim_nonces(
        self, claims: Sequence[tuple[str, str, datetime]], now: datetime
    ) -> set[tuple[str, str]]:
        with self._durable() as writes:
            return writes.claim_nonces(claims, now)

    def record_last_used(self, uses: Sequence[tuple[str, datetime, str]]) -> None:
        with self._durable() as writes:
            writes.record_last_used(uses)

    def append_events(self, account_id: str, rows: Sequence[Mapping[str, Any]]) -> None:
        with self._durable() as writes:
            writes.append_events(account_id, rows)


class _NoConnection:
    """A transaction's connection where there is none: any use of it is a cache miss."""

    def __getattr__(self, name: str) -> Any:
        raise CacheMiss(name)


class MemoryTx(Tx):
    """A read transaction answered from the cache: the reads of
    keyhouse.store.cache.CachedReads from memory (or CacheMiss), every other read a CacheMiss
    (it has no connection)."""

    _c: Any  # no connection: every use of it is a CacheMiss

    def __init__(self, scope: MemoryScope) -> None:
        self._c = _NoConnection()
        self.chain_key = NoChainKey()
        self.accounts_read = set()
        self._scope = scope

    def _entry(self, account_id: str) -> Any:
        entry = self._scope.cache.entry(account_id)
        if entry is None:
            raise CacheMiss(account_id)
        self._scope.depend(account_id, entry.epoch)
        return entry

    def get_account(self, account_id: str, *, lock: bool = False) -> Account | None:
        entry = self._entry(account_id)
        if lock or entry.account is None:
            raise CacheMiss("account")
        return entry.account  # type: ignore[no-any-return]

    def get_live_user_by_name(
        self, account_id: str, name: str, *, lock: bool = False, tags: bool = True
    ) -> User | None:
        found = self._entry(account_id).users_by_name
        if lock or tags or name not in found:
            raise CacheMiss("user")
        return found[name]  # type: ignore[no-any-return]

    def get_user(
        self, account_id: str, user_id: str, *, lock: bool = False, tags: bool = True
    ) -> User | None:
        found = self._entry(account_id).users_by_id
        if lock or tags or user_id not in found:
            raise CacheMiss("user")
        return found[user_id]  # type: ignore[no-any-return]

    def list_live_keys(self, account_id: str, user_id: str | None) -> list[AccessKey]:
        found = self._entry(account_id).live_keys
        if user_id not in found:
            raise CacheMiss("keys")
        return list(found[user_id])

    def get_service(
        self, account_id: str, name: str, *, lock: bool = False
    ) -> ServiceDefinition | None:
        found = self._entry(account_id).services
        if lock or name not in found:
            raise CacheMiss("service")
        return found[name]  # type: ignore[no-any-return]


class RecordingTx(Tx):
    """A real read transaction that records the reads of keyhouse.store.cache.CachedReads
    into the cache, tagged with the epoch of the account row read first in it (rows read
    later are as new or newer: if they changed, the epoch moved too, and the copy is never
    used)."""

    def __init__(self, conn: Connection, chain_key: ChainKey, cache: ReadCache) -> None:
        super().__init__(conn, chain_key)
        self._cache = cache
        self._epochs: dict[str, int] = {}

    def get_account(self, account_id: str, *, lock: bool = False) -> Account | None:
        account = super().get_account(account_id, lock=lock)
        if account is not None and account_id not in self._epochs:
            self._epochs[account_id] = account.cache_epoch
            self._cache.record_account(account)
        return account

    def get_live_user_by_name(
        self, account_id: str, name: str, *, lock: bool = False, tags: bool = True
    ) -> User | None:
        user = super().get_live_user_by_name(account_id, name, lock=lock, tags=tags)
        if not tags and account_id in self._epochs:
            self._cache.record_user(account_id, self._epochs[account_id], "name", name, user)
        return user

    def get_user(
        self, account_id: str, user_id: str, *, lock: bool = False, tags: bool = True
    ) -> User | None:
        user = super().get_user(account_id, user_id, lock=lock, tags=tags)
        if not tags and account_id in self._epochs:
            self._cache.record_user(account_id, self._epochs[account_id], "id", user_id, user)
        return user

    def list_live_keys(self, account_id: str, user_id: str | None) -> list[AccessKey]:
        keys = super().list_live_keys(account_id, user_id)
        if account_id in self._epochs:
            self._cache.record_live_keys(account_id, self._epochs[account_id], user_id, keys)
        return keys

    def get_service(
        self, account_id: str, name: str, *, lock: bool = False
    ) -> ServiceDefinition | None:
        service = super().get_service(account_id, name, lock=lock)
        if account_id in self._epochs:
            self._cache.record_service(account_id, self._epochs[account_id], name, service)
        return service


# A write-ahead log this long (pages of 4 KiB: 64 MiB) is started over once it is all copied.
WAL_RESTART_FRAMES = 16_384


class SqlStore:
    """Opens transactions on one engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # SQLite has one writer at a time, and a waiting writer polls with sleeps (1, 2, 5,
        # 10 ms...). Every process's writers queue on one lock instead, which hands the file
        # over at once (keyhouse.store.engine.SqliteWriteLock).
        self.write_lock: SqliteWriteLock | contextlib.nullcontext[None] = contextlib.nullcontext()
        if engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:"):
            self.write_lock = SqliteWriteLock(Path(engine.url.database))
        # Called inside every write transaction just before it commits (the audit trail
        # writes the event of the change there, so both commit or neither does).
        self.before_commit: Callable[[Tx], None] | None = None
        # The credential read of every signed request, off SQLAlchemy.
        self.hot = HotPath(self.engine)
        # What requests served on the event loop answer from (keyhouse.store.cache).
        self.cache = ReadCache()
        # The audit trail's chain key, once the keyring is open (services.masterkeys).
        self.chain_key: ChainKey = NoChainKey()

    @contextmanager
    def transaction(self, *, write: bool = False) -> Iterator[Tx]:
        """A transaction that commits on success and rolls back on any exception. On a request
        served on the event loop, a read transaction answered from the cache (CacheMiss when
        it does not hold the answer); elsewhere, a read transaction records what it reads."""
        engine = self.engine
        memory = current_memory_scope()
        if memory is not None:  # a request served on the event loop: no store at all
            if write:
                raise CacheMiss("write")
            yield MemoryTx(memory)
            return
        if not write:
            with engine.connect() as conn, conn.begin():
                yield RecordingTx(conn, self.chain_key, self.cache)
            return
        with self.write_lock, engine.connect() as conn:
            conn = conn.execution_options(**{WRITE_OPTION: True})
            with conn.begin():
                tx = Tx(conn, self.chain_key)
                yield tx
                if self.before_commit is not None:
                    self.before_commit(tx)
        for account_id in tx.accounts_read:
            self.cache.forget(account_id)

    @staticmethod
    def unavailable(exc: BaseException) -> bool:
        """Whether ``exc`` says the store could not be reached or was busy (try again later),
        rather than that the statement itself cannot succeed."""
        if isinstance(exc, OperationalError | InterfaceError | DisconnectionError | PoolTimeout):
            return True
        # The hot path (keyhouse.store.hot) speaks to the drivers without SQLAlchemy.
        return driver_unavailable(exc)

    def sealed_samples(self) -> list[tuple[str, Sealed]]:
        """One (AccessKey ID, sealed secret) per master key id in use: what the keyring is
        checked against at start-up."""
        with self.transaction() as tx:
            return tx.sealed_samples()

    def checkpoint(self) -> None:
        """SQLite only: copy the write-ahead log into the database file, without blocking
        writers (``PASSIVE``), off the request path. Under a steady load some reader always
        holds the log, so it is never started over and grows without end (200 MB in five
        minutes of the soak): once it is long and fully copied, a ``RESTART`` checkpoint
        makes the next writer start it over from its beginning, waiting at most 100 ms for
        readers (writers wait meanwhile), else it is tried again at the next call.

        ``RESTART``, not ``TRUNCATE``: the file keeps its length (at most WAL_RESTART_FRAMES
        pages and a second's writes) and is written over, where truncating it cost a
        truncation and its sync while writers waited: p99 at half the peak 31-37 ms with
        TRUNCATE, 8-12 ms with RESTART (docs/benchmarks.md)."""
        with self.engine.connect() as conn:
            _, frames, copied = conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()
            if frames >= WAL_RESTART_FRAMES and copied >= frames:
                conn.exec_driver_sql("PRAGMA busy_timeout=100")
                try:
                    conn.exec_driver_sql("PRAGMA wal_checkpoint(RESTART)")
                finally:
                    conn.exec_driver_sql(f"PRAGMA busy_timeout={BUSY_TIMEOUT * 1000}")

    def ping(self) -> bool:
        """True when the database answers a trivial query."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except OperationalError:
            return False

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.hot.dispose()
        self.engine.dispose()
