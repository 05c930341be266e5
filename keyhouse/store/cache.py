"""What the hot path answers from: bounded in-process copies of store rows, each tagged with
the cache epoch its account showed when the row was read.

The database bumps ``accounts.cache_epoch`` by trigger in the same transaction as any change
to the account, its users or its AccessKeys (but their last-used note), whoever makes it:
this instance, another one, the CLI, the retention sweep. So a copy read under epoch E is
exactly what the store holds for as long as the account still shows E.

- Every read transaction a worker thread opens records what it reads here
  (keyhouse.store.sql.RecordingTx):
  the account row, users by name and by ID (without tags), each owner's live keys, the
  services gateways verify against. The authenticator records each credential it reads.
- A request served on the event loop reads through keyhouse.store.sql.MemoryTx: every read
  of :class:`CachedReads` is answered
  from here or raises :class:`CacheMiss` (the request then runs on a worker thread, against
  the store), and the epochs its answer depended on are noted.
- The group-commit batch that carries the request's nonce and event re-reads those accounts'
  epochs in its own transaction; an answer read under an epoch that moved meanwhile is not
  sent: the request runs again against the store (keyhouse.services.trail.committer). A key
  disabled through another instance is therefore refused here on its very next request.

Bounds: at most ``max_accounts`` account entries and ``max_rows`` rows in all; past either,
the entries used longest ago are dropped whole. A write on this instance drops the entries of
the accounts it touched at once. Sealed secrets stay sealed here: the authenticator opens one
per request, and nothing here is ever logged.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from keyhouse.domain.model import AccessKey, Account, User

if TYPE_CHECKING:
    from keyhouse.domain.gateway import ServiceDefinition
    from keyhouse.store.hot import Credential, RoleState


class CacheMiss(Exception):
    """The answer needs the store: run the request on a worker thread."""


class CachedReads(Protocol):
    """The reads the cache holds: what a transaction answered from memory overrides (every
    other read of it raises :class:`CacheMiss`), and what a worker thread's read transaction
    records. Both stand-ins are transactions (keyhouse.store.sql) that override exactly these
    (tests/unit/test_cache.py checks it)."""

    def get_account(self, account_id: str, *, lock: bool = False) -> Account | None: ...

    def get_live_user_by_name(
        self, account_id: str, name: str, *, lock: bool = False, tags: bool = True
    ) -> User | None: ...

    def get_user(
        self, account_id: str, user_id: str, *, lock: bool = False, tags: bool = True
    ) -> User | None: ...

    def list_live_keys(self, account_id: str, user_id: str | None) -> list[AccessKey]: ...

    def get_service(
        self, account_id: str, name: str, *, lock: bool = False
    ) -> ServiceDefinition | None: ...


CACHED_READS = ("get_account", "get_live_user_by_name", "get_user", "list_live_keys", "get_service")


@dataclass(slots=True)
class _Entry:
    """One account's cached rows, all read under ``epoch``."""

    epoch: int
    account: Account | None = None
    # AccessKey ID -> its credential; "role:<RoleId>" -> a role's state (temporary credentials)
    credentials: dict[str, Credential | RoleState] = field(default_factory=dict)
    users_by_name: dict[str, User | None] = field(default_factory=dict)
    users_by_id: dict[str, User | None] = field(default_factory=dict)
    live_keys: dict[str | None, tuple[AccessKey, ...]] = field(default_factory=dict)
    services: dict[str, ServiceDefinition | None] = field(default_factory=dict)
    rows: int = 0


@dataclass(frozen=True, slots=True)
class CacheFigures:
    accounts: int
    rows: int
    hits: int
    misses: int
    evictions: int


class ReadCache:
    def __init__(self, *, max_accounts: int = 10_000, max_rows: int = 200_000) -> None:
        self.max_accounts = max_accounts
        self.max_rows = max_rows
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._key_account: dict[str, str] = {}
        self._rows = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self.evictions = 0

    # -- reading ----------------------------------------------------------------------------
    def credential(self, access_key_id: str) -> tuple[int, Credential | RoleState] | None:
        """(epoch, credential) of a key read before, or None."""
        with self._lock:
            account_id = self._key_account.get(access_key_id)
            entry = self._entries.get(account_id) if account_id is not None else None
            found = entry.credentials.get(access_key_id) if entry is not None else None
            if account_id is None or entry is None or found is None:
                self.misses += 1
                return None
            self._entries.move_to_end(account_id)
            self.hits += 1
            return entry.epoch, found

    def entry(self, account_id: str) -> _Entry | None:
        with self._lock:
            entry = self._entries.get(account_id)
            if entry is None:
                self.misses += 1
                return None
            self._entries.move_to_end(account_id)
            self.hits += 1
            return entry

    def figures(self) -> CacheFigures:
        with self._lock:
            return CacheFigures(
                len(self._entries), self._rows, self.hits, self.misses, self.evictions
            )

    # -- recording --------------------------------------------------------------------------
    def record_account(self, account: Account) -> None:
        with self._lock:
            entry = self._current(account.account_id, account.cache_epoch)
            if entry is not None:
                entry.account = account

    def record_credential(
        self, account_id: str, epoch: int, access_key_id: str, credential: Credential | RoleState
    ) -> None:
        with self._lock:
            entry = self._current(account_id, epoch)
            if entry is not None and access_key_id not in entry.credentials:
                entry.credentials[access_key_id] = credential
                self._key_account[access_key_id] = account_id
                self._grew(entry, 1)

    def record_user(
        self, account_id: str, epoch: int, by: str, value: str, user: User | None
    ) -> None:
        with self._lock:
            entry = self._current(account_id, epoch)
            if entry is None:
                return
            found = entry.users_by_name if by == "name" else entry.users_by_id
            if value not in found:
                found[value] = user
                self._grew(entry, 1)

    def record_live_keys(
        self, account_id: str, epoch: int, owner: str | None, keys: list[AccessKey]
    ) -> None:
        with self._lock:
            entry = self._current(account_id, epoch)
            if entry is not None and owner not in entry.live_keys:
                entry.live_keys[owner] = tuple(keys)
                self._grew(entry, 1 + len(keys))

    def record_service(
        self, account_id: str, epoch: int, name: str, service: ServiceDefinition | None
    ) -> None:
        with self._lock:
            entry = self._current(account_id, epoch)
            if entry is not None and name not in entry.services:
                entry.services[name] = service
                self._grew(entry, 1 + (len(service.routes) if service is not None else 0))

    def forget(self, account_id: str) -> None:
        """Drop what is cached of an account (it changed, or an answer from it was stale)."""
        with self._lock:
            entry = self._entries.pop(account_id, None)
            if entry is not None:
                self._dropped(entry)

    # -- under the lock -----------------------------------------------------------------------
    def _current(self, account_id: str, epoch: int) -> _Entry | None:
        """The entry to record into for rows read under ``epoch``: None when what is cached
        is newer (the rows read are older than it, and useless)."""
        entry = self._entries.get(account_id)
        if entry is not None:
            if entry.epoch == epoch:
                return entry
            if entry.epoch > epoch:
                return None
            self._entries.pop(account_id)
            self._dropped(entry)
        entry = self._entries[account_id] = _Entry(epoch)
        while len(self._entries) > self.max_accounts:
            self._evict()
        return entry

    def _grew(self, entry: _Entry, rows: int) -> None:
        entry.rows += rows
        self._rows += rows
        while self._rows > self.max_rows and self._entries:
            self._evict()

    def _evict(self) -> None:
        _, entry = self._entries.popitem(last=False)
        self.evictions += 1
        self._dropped(entry)

    def _dropped(self, entry: _Entry) -> None:
        self._rows -= entry.rows
        for access_key_id in entry.credentials:
            self._key_account.pop(access_key_id, None)


# -- reads answered from memory ---------------------------------------------------------------


@dataclass
class MemoryScope:
    """A request served from memory: the epochs (by account) its answer was read under."""

    cache: ReadCache
    depends: dict[str, int] = field(default_factory=dict)

    def depend(self, account_id: str, epoch: int) -> None:
        seen = self.depends.setdefault(account_id, epoch)
        if seen != epoch:  # the account changed while this request was being answered
            raise CacheMiss(account_id)


_memory: ContextVar[MemoryScope | None] = ContextVar("keyhouse_memory_reads", default=None)


@contextmanager
def memory_reads(scope: MemoryScope) -> Iterator[MemoryScope]:
    """Within: the store's read transactions are answered from ``scope.cache``."""
    token = _memory.set(scope)
    try:
        yield scope
    finally:
        _memory.reset(token)


def current_memory_scope() -> MemoryScope | None:
    return _memory.get()
