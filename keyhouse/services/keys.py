"""AccessKey pairs: create, enable/disable, delete into the bin, restore, purge."""

from __future__ import annotations

from dataclasses import dataclass

from keyhouse import ids
from keyhouse.domain import rules
from keyhouse.domain.errors import NotFound
from keyhouse.domain.model import (
    AccessKey,
    Account,
    KeyDeletion,
    KeyStatus,
    NewSecret,
    Principal,
    User,
)
from keyhouse.services.base import UseCases, UserRef, key_not_found, user_not_found
from keyhouse.store.sql import Tx


@dataclass(frozen=True, slots=True)
class BinnedKey:
    key: AccessKey
    user: User | None  # None: a key of the account root
    domain: str


class Keys(UseCases):
    def _owner(
        self, tx: Tx, account: Account, principal: Principal, ref: UserRef | None
    ) -> str | None:
        """Whose keys a request means: the named user, else the caller itself."""
        if ref is not None:
            return self._user(tx, account, ref, tags=False).user_id
        return principal.user_id if principal.kind == "user" else None

    def _lock_owner(self, tx: Tx, account: Account, owner: str | None) -> None:
        """Serialise quota checks for one owner: its user row, or the account row for the root."""
        if owner is None:
            tx.get_account(account.account_id, lock=True)
        else:
            tx.get_user(account.account_id, owner, lock=True, tags=False)

    def create(self, principal: Principal, ref: UserRef | None) -> NewSecret:
        """A new Active pair; the returned secret is the only copy that ever leaves."""
        now = self.clock.now()
        with self.store.transaction(write=True) as tx:
            account = self._account(tx, principal, "ram:CreateAccessKey")
            owner = self._owner(tx, account, principal, ref)
            self._lock_owner(tx, account, owner)
            rules.check_room_for_key(owner, len(tx.list_live_keys(account.account_id, owner)))
            key = AccessKey(
                access_key_id=ids.access_key_id(),
                account_id=account.account_id,
                user_id=owner,
                status=KeyStatus.ACTIVE,
                created_at=now,
                updated_at=now,
            )
            secret = ids.access_key_secret()
            tx.insert_key(key, self.box.seal(key.access_key_id, secret))
            return NewSecret(key, secret)

    def set_status(
        self, principal: Principal, ref: UserRef | None, access_key_id: str, status: KeyStatus
    ) -> AccessKey:
        now = self.clock.now()
        with self.store.transaction(write=True) as tx:
            account = self._account(tx, principal, "ram:UpdateAccessKey")
            owner = self._owner(tx, account, principal, ref)
            key = self._key_of(tx, account, owner, access_key_id).with_status(status, now)
            tx.update_key(key)
            return key

    def list_live(self, principal: Principal, ref: UserRef | None) -> list[AccessKey]:
        with self.store.transaction() as tx:
            account = self._account(tx, principal, "ram:ListAccessKeys")
            owner = self._owner(tx, account, principal, ref)
            return tx.list_live_keys(account.account_id, owner)

    def last_used(self, principal: Principal, ref: UserRef | None, access_key_id: str) -> AccessKey:
        with self.store.transaction() as tx:
            account = self._account(tx, principal, "ram:GetAccessKeyLastUsed")
            owner = self._owner(tx, account, principal, ref)
            return self._key_of(tx, account, owner, access_key_id)

    def delete(self, principal: Principal, ref: UserRef | None, access_key_id: str) -> None:
        """Into the bin (must be Inactive; the bin keeps 3), or gone at once in immediate mode."""
        now = self.clock.now()
        with self.store.transaction(write=True) as tx:
            account = self._account(tx, principal, "ram:DeleteAccessKey")
            owner = self._owner(tx, account, principal, ref)
            self._lock_owner(tx, account, owner)
            key = self._key_of(tx, account, owner, access_key_id)
            if account.key_deletion is KeyDeletion.IMMEDIATE:
                tx.delete_key(key.access_key_id)
                return
            rules.check_deletable(key)
            existing = tx.list_binned_keys(account.account_id, owner)
            for victim in rules.bin_overflow(existing, rules.KEY_BIN_LIMIT - 1):
                tx.delete_key(victim.access_key_id)
            tx.update_key(key.to_bin(*rules.bin_dates(now)))

    # -- the key recycle bin --------------------------------------------------------------
    def _bin_owner(
        self, tx: Tx, account: Account, principal: Principal, user_id: str | None
    ) -> str | None:
        """The owner named by a bin action's UserId (binned users included), else the caller."""
        if user_id is None:
            return principal.user_id if principal.kind == "user" else None
        if user_id == account.account_id:
            return None
        if tx.get_user(account.account_id, user_id) is None:
            raise user_not_found(UserRef.id(user_id))
        return user_id

    def _binned(
        self, tx: Tx, account: Account, owner: str | object | None, access_key_id: str
    ) -> AccessKey:
        key = tx.get_key(access_key_id)
        if (
            key is None
            or key.account_id != account.account_id
            or not key.in_bin
            or (owner is not _ANY and key.user_id != owner)
        ):
            raise key_not_found(access_key_id)
        return key

    def list_bin(self, principal: Principal, user_id: str | None) -> list[AccessKey]:
        with self.store.transaction() as tx:
            account = self._account(tx, principal, "ram:ListAccessKeysInRecycleBin")
            owner = self._bin_owner(tx, account, principal, user_id)
            return tx.list_binned_keys(account.account_id, owner)

    def get_in_bin(self, principal: Principal, access_key_id: str) -> BinnedKey:
        with self.store.transaction() as tx:
            account = self._account(tx, principal, "ram:GetAccessKeyInfoInRecycleBin")
            key = self._binned(tx, account, _ANY, access_key_id)
            user = tx.get_user(account.account_id, key.user_id) if key.user_id else None
            return BinnedKey(key, user, account.default_domain)

    def restore(self, principal: Principal, user_id: str | None, access_key_id: str) -> AccessKey:
        """Back to Active with the old secret and CreateDate; the user must be live first."""
        now = self.clock.now()
        with self.store.transaction(write=True) as tx:
            account = self._account(tx, principal, "ram:RestoreAccessKeyFromRecycleBin")
            owner = self._bin_owner(tx, account, principal, user_id)
            self._lock_owner(tx, account, owner)
            key = self._binned(tx, account, owner, access_key_id)
            user = tx.get_user(account.account_id, key.user_id) if key.user_id else None
            rules.check_restorable_key(user)
            rules.check_room_for_key(owner, len(tx.list_live_keys(account.account_id, owner)))
            restored = key.from_bin(now)
            tx.update_key(restored)
            return restored

    def purge(self, principal: Principal, user_id: str | None, access_key_id: str) -> None:
        with self.store.transaction(write=True) as tx:
            account = self._account(tx, principal, "ram:DeleteAccessKeyInRecycleBin")
            owner = self._bin_owner(tx, account, principal, user_id)
            key = self._binned(tx, account, owner, access_key_id)
            tx.delete_key(key.access_key_id)


_ANY = object()

__all__ = ["BinnedKey", "Keys", "NotFound"]
