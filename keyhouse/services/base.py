"""What every use-case family shares: the store, the clock, the authorizer, lookups."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from keyhouse.clock import Clock
from keyhouse.crypto import SecretBox
from keyhouse.domain import rules
from keyhouse.domain.errors import NotFound
from keyhouse.domain.model import AccessKey, Account, Principal, User
from keyhouse.services.authz import Authorizer
from keyhouse.store.sql import SqlStore, Tx


@dataclass(frozen=True, slots=True)
class UserRef:
    """How a request names a user: principal name, user name, user ID, or one of its keys."""

    by: Literal["upn", "name", "id", "key"]
    value: str
    parameter: str

    @classmethod
    def upn(cls, value: str, parameter: str = "UserPrincipalName") -> UserRef:
        return cls("upn", value, parameter)

    @classmethod
    def name(cls, value: str, parameter: str = "UserName") -> UserRef:
        return cls("name", value, parameter)

    @classmethod
    def id(cls, value: str, parameter: str = "UserId") -> UserRef:
        return cls("id", value, parameter)

    @classmethod
    def key(cls, value: str, parameter: str = "UserAccessKeyId") -> UserRef:
        return cls("key", value, parameter)


def user_not_found(ref: UserRef | None = None) -> NotFound:
    shown = f": {ref.value}" if ref is not None else ""
    return NotFound("user", f"The user does not exist{shown}.")


def key_not_found(access_key_id: str) -> NotFound:
    return NotFound("user.access_key", f"The AccessKey does not exist: {access_key_id}.")


class UseCases:
    def __init__(
        self, store: SqlStore, clock: Clock, authorizer: Authorizer, box: SecretBox
    ) -> None:
        self.store = store
        self.clock = clock
        self.authorizer = authorizer
        self.box = box

    def _account(self, tx: Tx, principal: Principal, action: str, *, lock: bool = False) -> Account:
        """The caller's account, after checking the caller may perform ``action`` in it."""
        self.authorizer.require(principal, action, principal.account_id)
        account = tx.get_account(principal.account_id, lock=lock)
        if account is None:
            raise NotFound("account", "The account does not exist.")
        return account

    def _user(
        self, tx: Tx, account: Account, ref: UserRef, *, lock: bool = False, tags: bool = True
    ) -> User:
        """A live user of the account named by ``ref``; NotFound otherwise. ``tags=False``: its
        tags are not read (the caller only needs to know who it is)."""
        user: User | None
        if ref.by == "upn":
            name = rules.split_principal_name(ref.value, account.default_domain, ref.parameter)
            user = tx.get_live_user_by_name(account.account_id, name, lock=lock, tags=tags)
        elif ref.by == "name":
            user = tx.get_live_user_by_name(account.account_id, ref.value, lock=lock, tags=tags)
        elif ref.by == "id":
            user = tx.get_user(account.account_id, ref.value, lock=lock, tags=tags)
        else:
            key = tx.get_key(ref.value)
            user = None
            if key is not None and key.account_id == account.account_id and key.user_id:
                user = tx.get_user(account.account_id, key.user_id, lock=lock, tags=tags)
        if user is None or user.in_bin:
            raise user_not_found(ref)
        return user

    def _key_of(self, tx: Tx, account: Account, owner: str | None, access_key_id: str) -> AccessKey:
        """A live key of ``owner`` (a user ID, or None for the root); NotFound otherwise."""
        key = tx.get_key(access_key_id)
        if (
            key is None
            or key.account_id != account.account_id
            or key.user_id != owner
            or key.in_bin
        ):
            raise key_not_found(access_key_id)
        return key
