"""Accounts and leases, in one open transaction (mixed into keyhouse.store.sql.Tx)."""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, or_, select, update
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import IntegrityError

from keyhouse.domain.errors import AlreadyExists
from keyhouse.domain.model import Account, KeyDeletion
from keyhouse.store.common import NOW, locked, take_over
from keyhouse.store.schema import (
    accounts,
    cache_epochs,
    leases,
)


def account_from(row: Any) -> Account:
    return Account(
        account_id=row.account_id,
        name=row.name,
        default_domain=row.default_domain,
        key_deletion=KeyDeletion(row.key_deletion),
        created_at=row.created_at,
        allow_user_manage_keys=bool(row.allow_user_manage_keys),
        mfa_for_login=row.mfa_for_login,
        allow_user_manage_mfa=bool(row.allow_user_manage_mfa),
        grants_epoch=int(row.grants_epoch),
        cache_epoch=int(row.cache_epoch or 0),
    )


@functools.cache
def _take_lease(dialect: Dialect) -> Any:
    """A lease is free if unheld, expired, or already ours (then it is extended)."""
    return take_over(
        dialect, leases, or_(leases.c.expires_at < NOW, leases.c.holder == bindparam("holder"))
    )


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


_ACCOUNT_LOCKED = locked(_ACCOUNT)


class AccountsTx:
    _c: Connection
    accounts_read: set[str]

    def count_accounts(self) -> int:
        """How many accounts exist (0 on a new store)."""
        return int(self._c.scalar(select(func.count()).select_from(accounts)) or 0)

    def get_account(self, account_id: str, *, lock: bool = False) -> Account | None:
        """The account, or None. ``lock`` holds its row until commit (serialises user quotas)."""
        q = _ACCOUNT_LOCKED if lock else _ACCOUNT
        row = self._c.execute(q, {"account_id": account_id}).first()
        self.accounts_read.add(account_id)
        return account_from(row) if row else None

    def get_account_by_name(self, name: str) -> Account | None:
        """The account with this name, or None."""
        row = self._c.execute(_ACCOUNTS.where(accounts.c.name == name)).first()
        return account_from(row) if row else None

    def get_account_by_domain(self, domain: str) -> Account | None:
        """The account whose default domain this is, or None."""
        row = self._c.execute(_ACCOUNTS.where(accounts.c.default_domain == domain)).first()
        return account_from(row) if row else None

    def list_accounts(self) -> list[Account]:
        """Every account, by name."""
        return [account_from(r) for r in self._c.execute(_ACCOUNTS.order_by(accounts.c.name))]

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
                        mfa_for_login=account.mfa_for_login,
                        allow_user_manage_mfa=account.allow_user_manage_mfa,
                    )
                )
        except IntegrityError as exc:
            raise AlreadyExists(
                "domain", "This default domain is used by another account."
            ) from exc

    def take_lease(self, name: str, holder: str, now: datetime, until: datetime) -> bool:
        """Take (or extend) the lease ``name`` for ``holder`` until ``until``.

        True when ``holder`` now holds it; False while another holder's lease is unexpired.
        Concurrent takers are serialised on the row, so at most one succeeds."""
        params = {"name": name, "holder": holder, "expires_at": until, "now": now}
        return self._c.execute(_take_lease(self._c.dialect), params).first() is not None

    def release_lease(self, name: str, holder: str) -> None:
        """Give the lease up early (a no-op unless ``holder`` holds it)."""
        self._c.execute(delete(leases).where(leases.c.name == name, leases.c.holder == holder))
