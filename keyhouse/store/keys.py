"""AccessKey pairs, nonces and last-used notes, in one open transaction (mixed into
keyhouse.store.sql.Tx)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.engine import Connection

from keyhouse.crypto import Sealed
from keyhouse.domain.model import AccessKey, KeyStatus
from keyhouse.store.common import PURGE_BATCH
from keyhouse.store.schema import (
    access_keys,
    accounts,
    nonces,
    users,
)


@dataclass(frozen=True, slots=True)
class Purged:
    kind: str  # "access_key" | "user"
    ident: str
    account_id: str
    detail: str


def key_from(row: Any) -> AccessKey:
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


def _owner(user_id: str | None) -> Any:
    return access_keys.c.user_id.is_(None) if user_id is None else access_keys.c.user_id == user_id


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


_ROOT_LIVE_KEYS = _live_keys(access_keys.c.user_id.is_(None))


_USER_LIVE_KEYS = _live_keys(access_keys.c.user_id == bindparam("user_id"))


class KeysTx:
    _c: Connection

    def get_key(self, access_key_id: str) -> AccessKey | None:
        """The key in any state (live or binned), or None once purged."""
        row = self._c.execute(
            select(*_KEY_COLUMNS).where(access_keys.c.access_key_id == access_key_id)
        ).first()
        return key_from(row) if row else None

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
        return [key_from(r) for r in rows]

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
        return [key_from(r) for r in self._c.execute(q)]

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
        return key_from(row), row.account_name, row.user_name, sealed, protected

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

    def purge_expired_keys(self, now: datetime) -> list[Purged]:
        """Purge up to one batch of binned keys whose DeleteDate has passed."""
        rows = self._c.execute(
            select(access_keys.c.access_key_id, access_keys.c.account_id, access_keys.c.user_id)
            .where(access_keys.c.delete_at <= now)
            .order_by(access_keys.c.delete_at)
            .limit(PURGE_BATCH)
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

    def purge_expired_nonces(self, now: datetime) -> int:
        """Forget nonces whose window has closed; returns how many."""
        return int(self._c.execute(delete(nonces).where(nonces.c.expires_at < now)).rowcount)
