"""Users and the user recycle bin."""

from __future__ import annotations

import base64
import binascii
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from keyhouse import ids
from keyhouse.clock import parse_date
from keyhouse.domain import rules
from keyhouse.domain.actions import Action
from keyhouse.domain.errors import AlreadyExists, Conflict, InvalidValue, LimitExceeded, NotFound
from keyhouse.domain.model import Account, KeyDeletion, KeyStatus, Principal, User
from keyhouse.services.base import UseCases, UserRef, user_not_found
from keyhouse.services.trail import draft as audit
from keyhouse.store.sql import Tx


@dataclass(frozen=True, slots=True)
class UserChanges:
    new_name: UserRef | None = None
    display_name: str | None = None
    comments: str | None = None
    email: str | None = None
    mobile_phone: str | None = None


@dataclass(frozen=True, slots=True)
class Page:
    users: list[User]
    marker: str  # empty when there is nothing more
    domain: str


def _encode_marker(*parts: str) -> str:
    return base64.urlsafe_b64encode("\n".join(parts).encode()).decode()


def _decode_marker(marker: str, count: int) -> list[str]:
    try:
        parts = base64.urlsafe_b64decode(marker.encode()).decode().split("\n")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidValue("Marker", "The marker is not one this service returned.") from exc
    if len(parts) != count:
        raise InvalidValue("Marker", "The marker is not one this service returned.")
    return parts


class Users(UseCases):
    # -- live users -----------------------------------------------------------------------
    def create(
        self,
        principal: Principal,
        ref: UserRef,
        display_name: str | None,
        *,
        comments: str = "",
        email: str = "",
        mobile_phone: str = "",
        tags: Sequence[tuple[str, str]] = (),
        display_name_limit: int = 128,
    ) -> tuple[User, str]:
        """Create a user; returns it with the account's current default domain."""
        now = self.clock.now()
        with self.store.transaction(write=True) as tx:
            account = self._account(tx, principal, lock=True)
            name = self._new_name(account, ref)
            self._authorize_user(tx, principal, account, Action.CreateUser, name)
            shown = display_name if display_name is not None else name
            rules.validate_display_name(shown, "DisplayName", display_name_limit)
            rules.validate_comments(comments, "Comments")
            if tx.count_live_users(account.account_id) >= rules.USER_LIMIT:
                raise LimitExceeded("user", f"An account holds at most {rules.USER_LIMIT} users.")
            user = User(
                user_id=ids.user_id(),
                account_id=account.account_id,
                name=name,
                display_name=shown,
                comments=comments,
                email=email,
                mobile_phone=mobile_phone,
                created_at=now,
                updated_at=now,
                tags=tuple(tags),
            )
            tx.insert_user(user)
            audit.annotate(UserId=user.user_id, UserName=user.name)
            return user, account.default_domain

    @staticmethod
    def _new_name(account: Account, ref: UserRef) -> str:
        if ref.by == "upn":
            return rules.split_principal_name(ref.value, account.default_domain, ref.parameter)
        return rules.validate_user_name(ref.value, ref.parameter)

    def get(self, principal: Principal, ref: UserRef) -> tuple[User, str]:
        with self.store.transaction() as tx:
            account = self._account(tx, principal)
            return self._target(tx, principal, account, Action.GetUser, ref), account.default_domain

    def update(
        self, principal: Principal, ref: UserRef, changes: UserChanges, *, display_name_limit: int
    ) -> tuple[User, str]:
        now = self.clock.now()
        with self.store.transaction(write=True) as tx:
            account = self._account(tx, principal)
            user = self._target(tx, principal, account, Action.UpdateUser, ref, lock=True)
            if changes.display_name is not None:
                rules.validate_display_name(
                    changes.display_name, "NewDisplayName", display_name_limit
                )
            if changes.comments is not None:
                rules.validate_comments(changes.comments, "NewComments")
            name = self._new_name(account, changes.new_name) if changes.new_name else user.name
            if name != user.name:
                # A rename acts on the new name too (as AWS IAM's UpdateUser): a grant on one's
                # own user must not let a user take a name that other grants or a role's trust
                # policy were written for.
                self._authorize_user(tx, principal, account, Action.UpdateUser, name)
            updated = dataclasses.replace(
                user,
                name=name,
                display_name=_or(changes.display_name, user.display_name),
                comments=_or(changes.comments, user.comments),
                email=_or(changes.email, user.email),
                mobile_phone=_or(changes.mobile_phone, user.mobile_phone),
                updated_at=now,
            )
            tx.update_user(updated)
            return updated, account.default_domain

    def page(
        self,
        principal: Principal,
        marker: str | None,
        max_items: int,
        tags: Sequence[tuple[str, str]] = (),
    ) -> Page:
        after = _decode_marker(marker, 1)[0] if marker else None
        with self.store.transaction() as tx:
            account = self._account(tx, principal, Action.ListUsers)
            found = tx.list_live_users(account.account_id, after, max_items + 1, tags)
        page = found[:max_items]
        more = len(found) > max_items
        return Page(page, _encode_marker(page[-1].name) if more else "", account.default_domain)

    def delete(self, principal: Principal, ref: UserRef) -> None:
        """Move a user to the user recycle bin, with its Inactive keys into the key bin."""
        now = self.clock.now()
        with self.store.transaction(write=True) as tx:
            account = self._account(tx, principal, lock=True)
            user = self._target(tx, principal, account, Action.DeleteUser, ref, lock=True)
            keys = tx.list_live_keys(account.account_id, user.user_id)
            if any(k.status is KeyStatus.ACTIVE for k in keys):
                raise Conflict(
                    "user.access_key",
                    "The user has an Active AccessKey pair; disable it before deleting the user.",
                )
            # As RAM documents for DeleteUser: policies and groups are undone explicitly first,
            # so a binned (and later purged) user never silently takes grants with it.
            if tx.attachments_of("User", user.user_id):
                raise Conflict("user.policy", "The user has policies attached; detach them first.")
            if tx.groups_of(user.user_id):
                raise Conflict("user.group", "The user is in groups; remove it from them first.")
            recycled, delete_at = rules.bin_dates(now)
            if account.key_deletion is KeyDeletion.IMMEDIATE:
                for key in keys:
                    tx.delete_key(key.access_key_id)
            else:
                existing = tx.list_binned_keys(account.account_id, user.user_id)
                victims = rules.bin_overflow([*existing, *keys], rules.KEY_BIN_LIMIT)
                for victim in victims:
                    tx.delete_key(victim.access_key_id)
                for key in keys:
                    if key not in victims:
                        tx.update_key(key.to_bin(recycled, delete_at))
            excess = tx.count_binned_users(account.account_id) - (rules.USER_BIN_LIMIT - 1)
            if excess > 0:
                for victim_user in tx.list_binned_users(account.account_id, None, excess):
                    tx.purge_user(victim_user.user_id)
            tx.update_user(user.to_bin(recycled, delete_at))

    # -- the user recycle bin -------------------------------------------------------------
    def list_bin(
        self, principal: Principal, name_filter: str | None, marker: str | None, max_items: int
    ) -> Page:
        after: tuple[datetime, str] | None = None
        if marker:
            at, uid = _decode_marker(marker, 2)
            try:
                after = (parse_date(at), uid)
            except ValueError as exc:
                raise InvalidValue(
                    "Marker", "The marker is not one this service returned."
                ) from exc
        with self.store.transaction() as tx:
            account = self._account(tx, principal, Action.ListUsersInRecycleBin)
            name = None
            if name_filter is not None:
                name = rules.split_principal_name(name_filter, account.default_domain, "Filter")
            found = tx.list_binned_users(account.account_id, after, max_items + 1, name)
        page = found[:max_items]
        more = len(found) > max_items
        last = page[-1] if page else None
        next_marker = ""
        if more and last is not None and last.recycled_at is not None:
            next_marker = _encode_marker(last.recycled_at.isoformat(), last.user_id)
        return Page(page, next_marker, account.default_domain)

    def get_in_bin(self, principal: Principal, ref: UserRef) -> tuple[User, str]:
        with self.store.transaction() as tx:
            account = self._account(tx, principal)
            user = self._binned_user(tx, principal, account, ref, Action.GetUserInRecycleBin)
            return user, account.default_domain

    def restore(self, principal: Principal, user_id: str) -> None:
        """Bring a user back; its keys stay in the key bin until restored one by one."""
        now = self.clock.now()
        with self.store.transaction(write=True) as tx:
            account = self._account(tx, principal, lock=True)
            user = self._binned_user(
                tx, principal, account, UserRef.id(user_id), Action.RestoreUserFromRecycleBin
            )
            if tx.get_live_user_by_name(account.account_id, user.name) is not None:
                raise AlreadyExists(
                    "user",
                    f"A live user named {user.name!r} exists; rename or delete it first.",
                )
            if tx.count_live_users(account.account_id) >= rules.USER_LIMIT:
                raise LimitExceeded("user", f"An account holds at most {rules.USER_LIMIT} users.")
            tx.update_user(user.from_bin(now))

    def purge(self, principal: Principal, user_id: str) -> list[str]:
        """Delete a binned user for good, with every key it has; returns the key IDs."""
        with self.store.transaction(write=True) as tx:
            account = self._account(tx, principal, lock=True)
            user = self._binned_user(
                tx, principal, account, UserRef.id(user_id), Action.DeleteUserInRecycleBin
            )
            return tx.purge_user(user.user_id)

    def _binned_user(
        self, tx: Tx, principal: Principal, account: Account, ref: UserRef, action: Action
    ) -> User:
        user = None
        if ref.by == "id":
            user = tx.get_user(account.account_id, ref.value)
        elif ref.by == "key":
            key = tx.get_key(ref.value)
            if key is not None and key.account_id == account.account_id and key.user_id:
                user = tx.get_user(account.account_id, key.user_id)
        if user is None or not user.in_bin:
            self._unknown_user(tx, principal, account, action, user_not_found(ref))
        self._authorize_user(tx, principal, account, action, user.name, user.user_id)
        return user


def _or(new: str | None, old: str) -> str:
    return old if new is None else new


__all__ = ["NotFound", "Page", "UserChanges", "Users"]
