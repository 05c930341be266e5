"""Users and their tags, in one open transaction (mixed into keyhouse.store.sql.Tx)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, and_, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from keyhouse.domain.errors import AlreadyExists
from keyhouse.domain.model import User
from keyhouse.store.common import PURGE_BATCH, locked
from keyhouse.store.schema import (
    access_keys,
    attachments,
    group_members,
    login_profiles,
    mfa_devices,
    user_tags,
    users,
)


def user_from(row: Any, tags: Sequence[tuple[str, str]] = ()) -> User:
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


_USER_BY_ID = select(users).where(
    users.c.user_id == bindparam("user_id"), users.c.account_id == bindparam("account_id")
)


_LIVE_USER_BY_NAME = select(users).where(
    users.c.account_id == bindparam("account_id"), users.c.live_name == bindparam("name")
)


_USER_BY_ID_LOCKED = locked(_USER_BY_ID)


_LIVE_USER_BY_NAME_LOCKED = locked(_LIVE_USER_BY_NAME)


class UsersTx:
    _c: Connection

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
        return [user_from(r, tags[r.user_id]) for r in rows]

    def _one_user(self, q: Any, params: dict[str, str], tags: bool) -> User | None:
        row = self._c.execute(q, params).first()
        if row is None:
            return None
        return self._users([row])[0] if tags else user_from(row)

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
        # Its MFA device goes with it: its seed is on the user's phone, no one else's.
        self._c.execute(delete(mfa_devices).where(mfa_devices.c.holder == user_id))
        self._c.execute(delete(group_members).where(group_members.c.user_id == user_id))
        self._c.execute(
            delete(attachments).where(
                attachments.c.principal_type == "User", attachments.c.principal_id == user_id
            )
        )
        self._c.execute(delete(users).where(users.c.user_id == user_id))
        return key_ids

    def expired_users(self, now: datetime) -> list[User]:
        """Up to one batch of binned users whose DeleteDate is at or before ``now``."""
        rows = self._c.execute(
            select(users)
            .where(users.c.delete_at <= now)
            .order_by(users.c.delete_at)
            .limit(PURGE_BATCH)
        ).all()
        return self._users(rows)
