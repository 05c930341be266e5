"""AccessKey pairs: create, enable/disable, delete into the bin, restore, purge."""

from __future__ import annotations

from dataclasses import dataclass

from keyhouse import ids
from keyhouse.domain import netpolicy, rules
from keyhouse.domain.actions import Action
from keyhouse.domain.arn import account_resource, root_resource, user_resource
from keyhouse.domain.errors import InvalidValue, NotFound, PermissionDenied
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
from keyhouse.services.trail import draft as audit
from keyhouse.store.sql import Tx


@dataclass(frozen=True, slots=True)
class BinnedKey:
    key: AccessKey
    user: User | None  # None: a key of the account root
    domain: str


@dataclass(frozen=True, slots=True)
class KeyOwner:
    key: AccessKey
    account_name: str
    user_name: str | None  # None: the account's root
    protected: bool


class Keys(UseCases):
    def _owner(
        self, tx: Tx, account: Account, principal: Principal, ref: UserRef | None, action: Action
    ) -> str | None:
        """Whose keys a request means (the named user, else the caller itself), once the
        caller may perform ``action`` on them."""
        if ref is not None:
            return self._target(tx, principal, account, action, ref, tags=False).user_id
        if principal.session is not None:
            raise InvalidValue(
                "UserPrincipalName", "A role session must name the user whose AccessKeys it means."
            )
        if principal.kind == "user":
            name = principal.user_name or ""
            self._authorize_user(tx, principal, account, action, name, principal.user_id)
            return principal.user_id
        self._authorize(tx, principal, account, action, root_resource(account.account_id))
        return None

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
            account = self._account(tx, principal)
            owner = self._owner(tx, account, principal, ref, Action.CreateAccessKey)
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
            audit.annotate(AccessKeyId=key.access_key_id, Status=key.status.value)
            return NewSecret(key, secret)

    def set_status(
        self, principal: Principal, ref: UserRef | None, access_key_id: str, status: KeyStatus
    ) -> AccessKey:
        now = self.clock.now()
        with self.store.transaction(write=True) as tx:
            account = self._account(tx, principal)
            owner = self._owner(tx, account, principal, ref, Action.UpdateAccessKey)
            key = self._key_of(tx, account, owner, access_key_id).with_status(status, now)
            tx.update_key(key)
            return key

    def list_live(self, principal: Principal, ref: UserRef | None) -> list[AccessKey]:
        with self.store.transaction() as tx:
            account = self._account(tx, principal)
            owner = self._owner(tx, account, principal, ref, Action.ListAccessKeys)
            return tx.list_live_keys(account.account_id, owner)

    def last_used(self, principal: Principal, ref: UserRef | None, access_key_id: str) -> AccessKey:
        with self.store.transaction() as tx:
            account = self._account(tx, principal)
            owner = self._owner(tx, account, principal, ref, Action.GetAccessKeyLastUsed)
            return self._key_of(tx, account, owner, access_key_id)

    def delete(self, principal: Principal, ref: UserRef | None, access_key_id: str) -> None:
        """Into the bin (must be Inactive; the bin keeps 3), or gone at once in immediate mode."""
        now = self.clock.now()
        with self.store.transaction(write=True) as tx:
            account = self._account(tx, principal)
            owner = self._owner(tx, account, principal, ref, Action.DeleteAccessKey)
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

    # -- network access policy and leak protection -----------------------------------------
    def network_policy(self, principal: Principal, ref: UserRef | None, access_key_id: str) -> str:
        with self.store.transaction() as tx:
            account = self._account(tx, principal)
            owner = self._owner(tx, account, principal, ref, Action.GetAccessKeyPolicy)
            key = self._key_of(tx, account, owner, access_key_id)
            return tx.key_network_policy(key.access_key_id) or netpolicy.NONE

    def set_network_policy(
        self, principal: Principal, ref: UserRef | None, access_key_id: str, document: str
    ) -> str:
        netpolicy.parse(document)
        with self.store.transaction(write=True) as tx:
            account = self._account(tx, principal)
            owner = self._owner(tx, account, principal, ref, Action.SetAccessKeyPolicy)
            key = self._key_of(tx, account, owner, access_key_id)
            tx.set_key_network_policy(key.access_key_id, document)
            return document

    def protect(self, principal: Principal, access_key_id: str, reason: str | None) -> None:
        """Put one of the account's keys under leak protection (``reason``) or lift it (None):
        the local operator only (keyhouse key protect, keyhouse scan --protect)."""
        if not principal.is_operator:
            raise PermissionDenied(
                "Only the operator puts a key under leak protection.",
                action="keyhouse:ProtectAccessKey",
                reason="operator only",
            )
        now = self.clock.now() if reason is not None else None
        with self.store.transaction(write=True) as tx:
            key = tx.get_key(access_key_id)
            if key is None or key.account_id != principal.account_id:
                raise key_not_found(access_key_id)
            tx.set_protection(access_key_id, reason, now)

    def whose(self, access_key_id: str) -> KeyOwner | None:
        """Who owns the key, in any state short of purged (the operator's whois); None when
        the store does not know it. Never its secret."""
        with self.store.transaction() as tx:
            found = tx.key_owner(access_key_id)
        if found is None:
            return None
        key, account_name, user_name, _sealed, protected = found
        return KeyOwner(key, account_name, user_name, protected)

    # -- the key recycle bin --------------------------------------------------------------
    def _bin_owner(
        self,
        tx: Tx,
        account: Account,
        principal: Principal,
        user_id: str | None,
        action: Action,
        *,
        account_wide: bool = False,
    ) -> str | None:
        """The owner named by a bin action's UserId (binned users included), else the caller,
        once the caller may perform ``action`` on its keys (``account_wide``: a list-level
        action on all resources of the account)."""
        owner: str | None = None
        name: str | None = None
        if user_id is None:
            if principal.kind == "user":
                owner, name = principal.user_id, principal.user_name
        elif user_id != account.account_id:
            user = tx.get_user(account.account_id, user_id, tags=False)
            if user is None:
                self._unknown_user(
                    tx, principal, account, action, user_not_found(UserRef.id(user_id))
                )
            owner, name = user.user_id, user.name
        if account_wide:
            resource = account_resource(account.account_id)
        elif name is None:
            resource = root_resource(account.account_id)
        else:
            resource = user_resource(account.account_id, name)
        self._authorize(tx, principal, account, action, resource, target_user_id=owner)
        return owner

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
            account = self._account(tx, principal)
            owner = self._bin_owner(
                tx,
                account,
                principal,
                user_id,
                Action.ListAccessKeysInRecycleBin,
                account_wide=True,
            )
            return tx.list_binned_keys(account.account_id, owner)

    def get_in_bin(self, principal: Principal, access_key_id: str) -> BinnedKey:
        with self.store.transaction() as tx:
            account = self._account(tx, principal)
            action = Action.GetAccessKeyInfoInRecycleBin
            try:
                key = self._binned(tx, account, _ANY, access_key_id)
            except NotFound as missing:
                self._unknown_user(tx, principal, account, action, missing)
            user = tx.get_user(account.account_id, key.user_id) if key.user_id else None
            resource = (
                root_resource(account.account_id)
                if user is None
                else user_resource(account.account_id, user.name)
            )
            self._authorize(tx, principal, account, action, resource, key.user_id)
            return BinnedKey(key, user, account.default_domain)

    def restore(self, principal: Principal, user_id: str | None, access_key_id: str) -> AccessKey:
        """Back to Active with the old secret and CreateDate; the user must be live first."""
        now = self.clock.now()
        with self.store.transaction(write=True) as tx:
            account = self._account(tx, principal)
            owner = self._bin_owner(
                tx, account, principal, user_id, Action.RestoreAccessKeyFromRecycleBin
            )
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
            account = self._account(tx, principal)
            owner = self._bin_owner(
                tx, account, principal, user_id, Action.DeleteAccessKeyInRecycleBin
            )
            key = self._binned(tx, account, owner, access_key_id)
            tx.delete_key(key.access_key_id)


_ANY = object()

__all__ = ["BinnedKey", "Keys", "NotFound"]
