"""The SQLAlchemy implementation of the store. Every method runs inside one transaction."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Engine, Row, and_, bindparam, delete, func, insert, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DisconnectionError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from keyhouse.crypto import Sealed
from keyhouse.domain.errors import AlreadyExists
from keyhouse.domain.model import AccessKey, Account, KeyDeletion, KeyStatus, User
from keyhouse.store.access import AccessControlTx
from keyhouse.store.cache import CacheMiss, MemoryTx, ReadCache, RecordingTx, current_memory_scope
from keyhouse.store.console import ConsoleTx
from keyhouse.store.engine import WRITE_OPTION, SqliteWriteLock
from keyhouse.store.hot import HotPath
from keyhouse.store.schema import (
    access_keys,
    accounts,
    attachments,
    cache_epochs,
    group_members,
    leases,
    login_profiles,
    nonces,
    user_tags,
    users,
)
from keyhouse.store.trail import TrailTx

_PURGE_BATCH = 500


@dataclass(frozen=True, slots=True)
class Purged:
    kind: str  # "access_key" | "user"
    ident: str
    account_id: str
    detail: str


def _account(row: Any) -> Account:
    return Account(
        account_id=row.account_id,
        name=row.name,
        default_domain=row.default_domain,
        key_deletion=KeyDeletion(row.key_deletion),
        created_at=row.created_at,
        allow_user_manage_keys=bool(row.allow_user_manage_keys),
        grants_epoch=int(row.grants_epoch),
        cache_epoch=int(row.cache_epoch or 0),
    )


def _user(row: Any, tags: Sequence[tuple[str, str]] = ()) -> User:
    return User(
        user_id=row.user_id,
        account_id=row.account_id,
        name=row.name,
        display_name=row.display_name,
        comments=row.comments,
        email=row.email,
        mobile_phone=row.mobile_phone,
        created_at=row.created_at,
        updated_at=row.updated_at,
        last_login_at=row.last_login_at,
        recycled_at=row.recycled_at,
        delete_at=row.delete_at,
        tags=tuple(tags),
    )


def _key(row: Any) -> AccessKey:
    return AccessKey(
        access_key_id=row.access_key_id,
        account_id=row.account_id,
        user_id=row.user_id,
        status=KeyStatus(row.status),
        created_at=row.created_at,
        updated_at=row.updated_at,
        recycled_at=row.recycled_at,
        delete_at=row.delete_at,
        last_used_at=row.last_used_at,
        last_used_service=row.last_used_service,
    )


_KEY_COLUMNS = [c for c in access_keys.c if c.name not in {"secret_key_id", "secret_sealed"}]


def _locked(query: Any) -> Any:
    """Hold the selected row until commit. ``FOR NO KEY UPDATE`` on PostgreSQL: it serialises
    quota checks against each other, yet lets foreign-key checks of concurrent inserts (which
    take ``KEY SHARE`` on the parent row) through, so lock orders cannot deadlock on them.
    SQLite ignores it: its write transactions are already serialised by ``BEGIN IMMEDIATE``."""
    return query.with_for_update(key_share=True)


def _take_over(dialect: str, table: Any, where: Any) -> Any:
    """``INSERT .. ON CONFLICT (primary key) DO UPDATE .. WHERE <where> RETURNING``.

    Inserts the row, or overwrites the existing one only where ``where`` holds for it; a row
    comes back exactly when the caller now owns it. The same SQL on SQLite and PostgreSQL, and
    the answer does not depend on how a driver reports rowcount for upserts (psycopg: -1).
    Concurrent callers are serialised on the row, so at most one of them wins."""
    insert_ = sqlite_insert if dialect == "sqlite" else postgresql_insert
    stmt = insert_(table).values({c.name: bindparam(c.name) for c in table.c})
    keys = list(table.primary_key.columns)
    return stmt.on_conflict_do_update(
        index_elements=keys,
        set_={c.name: stmt.excluded[c.name] for c in table.c if not c.primary_key},
        where=where,
    ).returning(*keys)


_NOW = bindparam("now", type_=nonces.c.expires_at.type)


@functools.cache
def _claim_nonce(dialect: str) -> Any:
    """A nonce is free if unseen, or if its window has closed."""
    return _take_over(dialect, nonces, nonces.c.expires_at < _NOW)


@functools.cache
def _take_lease(dialect: str) -> Any:
    """A lease is free if unheld, expired, or already ours (then it is extended)."""
    return _take_over(
        dialect, leases, or_(leases.c.expires_at < _NOW, leases.c.holder == bindparam("holder"))
    )


def _owner(user_id: str | None) -> Any:
    return access_keys.c.user_id.is_(None) if user_id is None else access_keys.c.user_id == user_id


# Statements that most requests run, built once: building a select() per call cost more than
# SQLite took to run it.
# Every account read carries its cache epoch (keyhouse.store.cache).
_ACCOUNTS = select(
    accounts,
    select(cache_epochs.c.epoch)
    .where(cache_epochs.c.account_id == accounts.c.account_id)
    .scalar_subquery()
    .label("cache_epoch"),
)
_ACCOUNT = _ACCOUNTS.where(accounts.c.account_id == bindparam("account_id"))
_ACCOUNT_LOCKED = _locked(_ACCOUNT)
# Built once: every write request runs it (building a statement per call cost more than it).
_LAST_USED = (
    update(access_keys)
    .where(
        access_keys.c.access_key_id == bindparam("used_key"),
        or_(
            access_keys.c.last_used_at.is_(None),
            access_keys.c.last_used_at
            <= bindparam("used_at", type_=access_keys.c.last_used_at.type),
        ),
    )
    .values(last_used_at=bindparam("used_at"), last_used_service=bindparam("used_service"))
)


def _live_keys(owner: Any) -> Any:
    return (
        select(*_KEY_COLUMNS)
        .where(
            access_keys.c.account_id == bindparam("account_id"),
            owner,
            access_keys.c.recycled_at.is_(None),
        )
        .order_by(access_keys.c.created_at, access_keys.c.access_key_id)
    )


_USER_BY_ID = select(users).where(
    users.c.user_id == bindparam("user_id"), users.c.account_id == bindparam("account_id")
)
_LIVE_USER_BY_NAME = select(users).where(
    users.c.account_id == bindparam("account_id"), users.c.live_name == bindparam("name")
)
_USER_BY_ID_LOCKED = _locked(_USER_BY_ID)
_LIVE_USER_BY_NAME_LOCKED = _locked(_LIVE_USER_BY_NAME)
_ROOT_LIVE_KEYS = _live_keys(access_keys.c.user_id.is_(None))
_USER_LIVE_KEYS = _live_keys(access_keys.c.user_id == bindparam("user_id"))


class Tx(AccessControlTx, TrailTx, ConsoleTx):
    """One open transaction. Methods return domain objects; ``None`` means "no such row"."""

    def __init__(self, conn: Connection) -> None:
        self._c = conn
        # Accounts this transaction read: a write drops their cached rows once it commits.
        self.accounts_read: set[str] = set()

    # -- accounts -------------------------------------------------------------------------
    def count_accounts(self) -> int:
        """How many accounts exist (0 on a new store)."""
        return int(self._c.scalar(select(func.count()).select_from(accounts)) or 0)

    def get_account(self, account_id: str, *, lock: bool = False) -> Account | None:
        """The account, or None. ``lock`` holds its row until commit (serialises user quotas)."""
        q = _ACCOUNT_LOCKED if lock else _ACCOUNT
        row = self._c.execute(q, {"account_id": account_id}).first()
        self.accounts_read.add(account_id)
        return _account(row) if row else None

    def get_account_by_name(self, name: str) -> Account | None:
        """The account with this name, or None."""
        row = self._c.execute(_ACCOUNTS.where(accounts.c.name == name)).first()
        return _account(row) if row else None

    def get_account_by_domain(self, domain: str) -> Account | None:
        """The account whose default domain this is, or None."""
        row = self._c.execute(_ACCOUNTS.where(accounts.c.default_domain == domain)).first()
        return _account(row) if row else None

    def list_accounts(self) -> list[Account]:
        """Every account, by name."""
        return [_account(r) for r in self._c.execute(_ACCOUNTS.order_by(accounts.c.name))]

    def insert_account(self, account: Account) -> None:
        """Raises AlreadyExists when the name or default domain is taken."""
        try:
            with self._c.begin_nested():
                self._c.execute(
                    insert(accounts).values(
                        account_id=account.account_id,
                        name=account.name,
                        default_domain=account.default_domain,
                        key_deletion=account.key_deletion.value,
                        created_at=account.created_at,
                    )
                )
        except IntegrityError as exc:
            raise AlreadyExists("account", "An account with this name already exists.") from exc

    def update_account(self, account: Account) -> None:
        """Raises AlreadyExists when the new default domain belongs to another account."""
        try:
            with self._c.begin_nested():
                self._c.execute(
                    update(accounts)
                    .where(accounts.c.account_id == account.account_id)
                    .values(
                        default_domain=account.default_domain,
                        key_deletion=account.key_deletion.value,
                        allow_user_manage_keys=account.allow_user_manage_keys,
                    )
                )
        except IntegrityError as exc:
            raise AlreadyExists(
                "domain", "This default domain is used by another account."
            ) from exc

    # -- users ----------------------------------------------------------------------------
    def _tags(self, user_ids: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
        found: dict[str, list[tuple[str, str]]] = {u: [] for u in user_ids}
        if not user_ids:
            return found
        q = (
            select(user_tags)
            .where(user_tags.c.user_id.in_(user_ids))
            .order_by(user_tags.c.user_id, user_tags.c.position)
        )
        for r in self._c.execute(q):
            found[r.user_id].append((r.tag_key, r.tag_value))
        return found

    def _users(self, rows: Sequence[Row[Any]]) -> list[User]:
        tags = self._tags([r.user_id for r in rows])
        return [_user(r, tags[r.user_id]) for r in rows]

    def _one_user(self, q: Any, params: dict[str, str], tags: bool) -> User | None:
        row = self._c.execute(q, params).first()
        if row is None:
            return None
        return self._users([row])[0] if tags else _user(row)

    def get_user(
        self, account_id: str, user_id: str, *, lock: bool = False, tags: bool = True
    ) -> User | None:
        """The user (live or binned) of this account with this ID, or None. ``tags=False``
        leaves its tags out (one query less, for callers that only need who it is)."""
        q = _USER_BY_ID_LOCKED if lock else _USER_BY_ID
        return self._one_user(q, {"account_id": account_id, "user_id": user_id}, tags)

    def get_live_user_by_name(
        self, account_id: str, name: str, *, lock: bool = False, tags: bool = True
    ) -> User | None:
        """The live (not binned) user with this name, or None; ``lock`` holds its row."""
        q = _LIVE_USER_BY_NAME_LOCKED if lock else _LIVE_USER_BY_NAME
        return self._one_user(q, {"account_id": account_id, "name": name}, tags)

    def count_live_users(self, account_id: str) -> int:
        """Users of the account not in the user recycle bin."""
        q = select(func.count()).where(
            users.c.account_id == account_id, users.c.recycled_at.is_(None)
        )
        return int(self._c.scalar(q) or 0)

    def count_binned_users(self, account_id: str) -> int:
        """Users of the account in the user recycle bin."""
        q = select(func.count()).where(
            users.c.account_id == account_id, users.c.recycled_at.is_not(None)
        )
        return int(self._c.scalar(q) or 0)

    def list_live_users(
        self,
        account_id: str,
        after_name: str | None,
        limit: int,
        tag_filter: Sequence[tuple[str, str]] = (),
    ) -> list[User]:
        """Live users ordered by name, starting after ``after_name``; at most ``limit``."""
        q = select(users).where(users.c.account_id == account_id, users.c.recycled_at.is_(None))
        if after_name is not None:
            q = q.where(users.c.name > after_name)
        for tag_key, tag_value in tag_filter:
            q = q.where(
                select(user_tags.c.user_id)
                .where(
                    user_tags.c.user_id == users.c.user_id,
                    user_tags.c.tag_key == tag_key,
                    user_tags.c.tag_value == tag_value,
                )
                .exists()
            )
        rows = self._c.execute(q.order_by(users.c.name).limit(limit)).all()
        return self._users(rows)

    def list_binned_users(
        self,
        account_id: str,
        after: tuple[datetime, str] | None,
        limit: int,
        name: str | None = None,
    ) -> list[User]:
        """Binned users ordered by recycle time then ID, after the ``after`` position."""
        q = select(users).where(users.c.account_id == account_id, users.c.recycled_at.is_not(None))
        if name is not None:
            q = q.where(users.c.name == name)
        if after is not None:
            at, uid = after
            q = q.where(
                or_(
                    users.c.recycled_at > at,
                    and_(users.c.recycled_at == at, users.c.user_id > uid),
                )
            )
        rows = self._c.execute(q.order_by(users.c.recycled_at, users.c.user_id).limit(limit)).all()
        return self._users(rows)

    def insert_user(self, user: User) -> None:
        """Raises AlreadyExists when a live user of the account has the name."""
        try:
            with self._c.begin_nested():
                self._c.execute(insert(users).values(**self._user_values(user)))
                self._write_tags(user)
        except IntegrityError as exc:
            raise AlreadyExists("user", f"The user {user.name!r} already exists.") from exc

    def update_user(self, user: User) -> None:
        """Raises AlreadyExists when the (new) name is taken by another live user."""
        try:
            with self._c.begin_nested():
                self._c.execute(
                    update(users)
                    .where(users.c.user_id == user.user_id)
                    .values(**self._user_values(user))
                )
        except IntegrityError as exc:
            raise AlreadyExists("user", f"The user {user.name!r} already exists.") from exc

    @staticmethod
    def _user_values(user: User) -> dict[str, Any]:
        return {
            "user_id": user.user_id,
            "account_id": user.account_id,
            "name": user.name,
            "live_name": None if user.in_bin else user.name,
            "display_name": user.display_name,
            "comments": user.comments,
            "email": user.email,
            "mobile_phone": user.mobile_phone,
            "created_at": user.created_at,
            "updated_at": user.updated_at,
            "last_login_at": user.last_login_at,
            "recycled_at": user.recycled_at,
            "delete_at": user.delete_at,
        }

    def _write_tags(self, user: User) -> None:
        if user.tags:
            self._c.execute(
                insert(user_tags),
                [
                    {"user_id": user.user_id, "position": i, "tag_key": k, "tag_value": v}
                    for i, (k, v) in enumerate(user.tags)
                ],
            )

    def purge_user(self, user_id: str) -> list[str]:
        """Delete a user, its tags and every key it has (live or binned); return the key IDs."""
        key_ids = list(
            self._c.scalars(
                select(access_keys.c.access_key_id).where(access_keys.c.user_id == user_id)
            )
        )
        self._c.execute(delete(access_keys).where(access_keys.c.user_id == user_id))
        self._c.execute(delete(user_tags).where(user_tags.c.user_id == user_id))
        self._c.execute(delete(login_profiles).where(login_profiles.c.user_id == user_id))
        self._c.execute(delete(group_members).where(group_members.c.user_id == user_id))
        self._c.execute(
            delete(attachments).where(
                attachments.c.principal_type == "User", attachments.c.principal_id == user_id
            )
        )
        self._c.execute(delete(users).where(users.c.user_id == user_id))
        return key_ids

    # -- access keys ----------------------------------------------------------------------
    def get_key(self, access_key_id: str) -> AccessKey | None:
        """The key in any state (live or binned), or None once purged."""
        row = self._c.execute(
            select(*_KEY_COLUMNS).where(access_keys.c.access_key_id == access_key_id)
        ).first()
        return _key(row) if row else None

    def insert_key(self, key: AccessKey, sealed: Sealed) -> None:
        """Store a new key with its sealed secret (the plain secret never reaches storage)."""
        self._c.execute(
            insert(access_keys).values(
                access_key_id=key.access_key_id,
                account_id=key.account_id,
                user_id=key.user_id,
                status=key.status.value,
                secret_key_id=sealed.key_id,
                secret_sealed=sealed.blob,
                created_at=key.created_at,
                updated_at=key.updated_at,
                recycled_at=key.recycled_at,
                delete_at=key.delete_at,
                last_used_service="",
            )
        )

    def update_key(self, key: AccessKey) -> None:
        """Persist status and bin state. Last-used fields are written only with a request's
        nonce (``record_last_used``)."""
        self._c.execute(
            update(access_keys)
            .where(access_keys.c.access_key_id == key.access_key_id)
            .values(
                status=key.status.value,
                updated_at=key.updated_at,
                recycled_at=key.recycled_at,
                delete_at=key.delete_at,
            )
        )

    def delete_key(self, access_key_id: str) -> None:
        """Remove the key for good (a no-op if it is already gone)."""
        self._c.execute(delete(access_keys).where(access_keys.c.access_key_id == access_key_id))

    def list_live_keys(self, account_id: str, user_id: str | None) -> list[AccessKey]:
        """Live keys of a user (or of the account root when ``user_id`` is None), oldest first."""
        if user_id is None:
            rows = self._c.execute(_ROOT_LIVE_KEYS, {"account_id": account_id})
        else:
            rows = self._c.execute(_USER_LIVE_KEYS, {"account_id": account_id, "user_id": user_id})
        return [_key(r) for r in rows]

    def list_binned_keys(self, account_id: str, user_id: str | None) -> list[AccessKey]:
        """Binned keys of one owner, earliest binned first."""
        q = (
            select(*_KEY_COLUMNS)
            .where(
                access_keys.c.account_id == account_id,
                _owner(user_id),
                access_keys.c.recycled_at.is_not(None),
            )
            # Keys binned together (with their user) leave the bin oldest-created first.
            .order_by(
                access_keys.c.recycled_at, access_keys.c.created_at, access_keys.c.access_key_id
            )
        )
        return [_key(r) for r in self._c.execute(q)]

    def key_owner(
        self, access_key_id: str
    ) -> tuple[AccessKey, str, str | None, Sealed, bool] | None:
        """The key (any state), its account's name, its user's name (None for the root), its
        sealed secret, and whether it is under leak protection; None when unknown."""
        q = (
            select(
                *_KEY_COLUMNS,
                access_keys.c.secret_key_id,
                access_keys.c.secret_sealed,
                accounts.c.name.label("account_name"),
                users.c.name.label("user_name"),
            )
            .select_from(
                access_keys.join(
                    accounts, accounts.c.account_id == access_keys.c.account_id
                ).outerjoin(users, users.c.user_id == access_keys.c.user_id)
            )
            .where(access_keys.c.access_key_id == access_key_id)
        )
        row = self._c.execute(q).first()
        if row is None:
            return None
        sealed = Sealed(row.secret_key_id, bytes(row.secret_sealed))
        protected = row.protected_reason is not None
        return _key(row), row.account_name, row.user_name, sealed, protected

    # -- authentication -------------------------------------------------------------------
    def sealed_samples(self) -> list[tuple[str, Sealed]]:
        """One (AccessKey ID, sealed secret) per master key id used in the store."""
        firsts = (
            select(func.min(access_keys.c.access_key_id))
            .group_by(access_keys.c.secret_key_id)
            .scalar_subquery()
        )
        q = select(
            access_keys.c.access_key_id, access_keys.c.secret_key_id, access_keys.c.secret_sealed
        ).where(access_keys.c.access_key_id.in_(firsts))
        return [
            (r.access_key_id, Sealed(r.secret_key_id, bytes(r.secret_sealed)))
            for r in self._c.execute(q)
        ]

    def record_last_used(self, uses: Sequence[tuple[str, datetime, str]]) -> None:
        """Move last-used forward for each (key, time, service); never backwards."""
        self._c.execute(
            _LAST_USED,
            [{"used_key": k, "used_at": at, "used_service": svc} for k, at, svc in uses],
        )

    # -- retention ------------------------------------------------------------------------
    def purge_expired_keys(self, now: datetime) -> list[Purged]:
        """Purge up to one batch of binned keys whose DeleteDate has passed."""
        rows = self._c.execute(
            select(access_keys.c.access_key_id, access_keys.c.account_id, access_keys.c.user_id)
            .where(access_keys.c.delete_at <= now)
            .order_by(access_keys.c.delete_at)
            .limit(_PURGE_BATCH)
        ).all()
        if rows:
            self._c.execute(
                delete(access_keys).where(
                    access_keys.c.access_key_id.in_([r.access_key_id for r in rows]),
                    access_keys.c.delete_at <= now,
                )
            )
        return [
            Purged("access_key", r.access_key_id, r.account_id, r.user_id or "(account root)")
            for r in rows
        ]

    def expired_users(self, now: datetime) -> list[User]:
        """Up to one batch of binned users whose DeleteDate is at or before ``now``."""
        rows = self._c.execute(
            select(users)
            .where(users.c.delete_at <= now)
            .order_by(users.c.delete_at)
            .limit(_PURGE_BATCH)
        ).all()
        return self._users(rows)

    def claim_nonces(
        self, claims: Sequence[tuple[str, str, datetime]], now: datetime
    ) -> set[tuple[str, str]]:
        """Spend nonces ((AccessKey ID, nonce, window end) each); returns those that were
        free: unseen, or seen with a closed window. A nonce given twice is spent once (the
        first). SQLAlchemy sends the rows as one multi-row statement (insertmanyvalues)."""
        unique: dict[tuple[str, str], datetime] = {}
        for access_key_id, nonce, expires_at in claims:
            unique.setdefault((access_key_id, nonce), expires_at)
        if not unique:
            return set()
        rows = [
            {"access_key_id": k, "nonce": n, "expires_at": e, "now": now}
            for (k, n), e in unique.items()
        ]
        return {(r[0], r[1]) for r in self._c.execute(_claim_nonce(self._c.dialect.name), rows)}

    def purge_expired_nonces(self, now: datetime) -> int:
        """Forget nonces whose window has closed; returns how many."""
        return int(self._c.execute(delete(nonces).where(nonces.c.expires_at < now)).rowcount)

    # -- leases ---------------------------------------------------------------------------
    def take_lease(self, name: str, holder: str, now: datetime, until: datetime) -> bool:
        """Take (or extend) the lease ``name`` for ``holder`` until ``until``.

        True when ``holder`` now holds it; False while another holder's lease is unexpired.
        Concurrent takers are serialised on the row, so at most one succeeds."""
        params = {"name": name, "holder": holder, "expires_at": until, "now": now}
        return self._c.execute(_take_lease(self._c.dialect.name), params).first() is not None

    def release_lease(self, name: str, holder: str) -> None:
        """Give the lease up early (a no-op unless ``holder`` holds it)."""
        self._c.execute(delete(leases).where(leases.c.name == name, leases.c.holder == holder))


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
            yield cast(Tx, MemoryTx(memory))
            return
        if not write:
            with engine.connect() as conn, conn.begin():
                yield cast(Tx, RecordingTx(Tx(conn), self.cache))
            return
        with self.write_lock, engine.connect() as conn:
            conn = conn.execution_options(**{WRITE_OPTION: True})
            with conn.begin():
                tx = Tx(conn)
                yield tx
                if self.before_commit is not None:
                    self.before_commit(tx)
        for account_id in tx.accounts_read:
            self.cache.forget(account_id)

    @staticmethod
    def unavailable(exc: BaseException) -> bool:
        """Whether ``exc`` says the store could not be reached or was busy (try again later),
        rather than that the statement itself cannot succeed."""
        return isinstance(exc, OperationalError | InterfaceError | DisconnectionError | PoolTimeout)

    def checkpoint(self) -> None:
        """SQLite only: copy the write-ahead log into the database file, without blocking
        writers (``PASSIVE``), off the request path."""
        with self.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")

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
