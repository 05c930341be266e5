"""What every use-case family shares: the store, the clock, the authorizer, lookups.

A use-case is called with the principal it acts for and what the request names; it checks
permission, applies the rules and writes in one transaction. Two things reach it without
being arguments:

- **The request's audit event.** Each surface (the wire API's dispatcher, a console page, an
  operator's command) opens one event draft per request before calling a use-case and
  finishes it after (keyhouse.services.trail). A use-case adds what only it knows with
  ``trail.draft.annotate(...)`` (the pair it created) or ``trail.draft.concerns(account)``;
  outside a request both do nothing.
- **The change's durability.** When a write transaction commits, the store calls the trail
  writer's ``before_commit``: the change's event and its request's nonce are written in that
  same transaction, so a change is never kept without its event, nor replayed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NoReturn

from keyhouse.clock import Clock
from keyhouse.crypto import SecretBox
from keyhouse.domain import policy, rules
from keyhouse.domain.actions import ANY_USER, Action
from keyhouse.domain.arn import account_resource, user_resource
from keyhouse.domain.errors import NotFound
from keyhouse.domain.model import AccessKey, Account, Principal, User
from keyhouse.services.authz import Authorizer, Grants
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

    def _account(
        self, tx: Tx, principal: Principal, action: Action | None = None, *, lock: bool = False
    ) -> Account:
        """The caller's account. With ``action``: after checking the caller may perform it as
        an account-wide action (resource ``acs:ram:*:<account>:*``). Without: the caller must
        authorize against the resource it resolves next (:meth:`_authorize`)."""
        account = tx.get_account(principal.account_id, lock=lock)
        if account is None:
            raise NotFound("account", "The account does not exist.")
        if action is not None:
            self._authorize(tx, principal, account, action, account_resource(account.account_id))
        return account

    def _authorize(
        self,
        tx: Tx,
        principal: Principal,
        account: Account,
        action: Action,
        resource: str,
        target_user_id: str | None = None,
    ) -> None:
        """Raise PermissionDenied unless the caller may perform ``action`` on ``resource``.
        ``target_user_id``: the ID of the user whose keys are concerned (self-service: a
        user reusing a binned user's name is not that user)."""
        self.authorizer.require(
            principal,
            action,
            account.account_id,
            resource,
            grants=lambda: self._grants(tx, principal, account),
            target_user_id=target_user_id,
        )

    def _authorize_user(
        self,
        tx: Tx,
        principal: Principal,
        account: Account,
        action: Action,
        name: str,
        user_id: str | None = None,
    ) -> None:
        resource = user_resource(account.account_id, name)
        self._authorize(tx, principal, account, action, resource, target_user_id=user_id)

    def _unknown_user(
        self, tx: Tx, principal: Principal, account: Account, action: Action, error: Exception
    ) -> NoReturn:
        """Raise ``error`` (the user or key named by ID does not exist) to a caller that may
        perform ``action`` on every user; NoPermission to anyone else, as for an ID that
        exists, so that IDs cannot be probed."""
        self._authorize_user(tx, principal, account, action, ANY_USER)
        raise error

    def _grants(self, tx: Tx, principal: Principal, account: Account) -> Grants:
        session = principal.session
        holder = (principal.user_id or "") if session is None else "role:" + session.role_id
        cache = self.authorizer.cache
        found = cache.get(holder, account.grants_epoch)
        if found is None:
            compiled = []
            held = tx.grants(holder) if session is None else tx.role_grants(session.role_id)
            for policy_type, name, document in held:
                if policy_type == "System" and name in policy.SYSTEM_POLICIES:
                    document = policy.SYSTEM_POLICIES[name][1]
                if document:
                    compiled.append((f"{policy_type}:{name}", policy.compiled(document)))
            found = tuple(compiled)
            cache.put(holder, account.grants_epoch, found)
        return Grants(found, account.allow_user_manage_keys)

    def _target(
        self,
        tx: Tx,
        principal: Principal,
        account: Account,
        action: Action,
        ref: UserRef,
        *,
        lock: bool = False,
        tags: bool = True,
    ) -> User:
        """The live user ``ref`` names, once the caller may perform ``action`` on it. When the
        request names the user, permission is checked first, so that a caller without it
        learns nothing about which users exist."""
        if ref.by in {"upn", "name"}:
            name = ref.value
            if ref.by == "upn":
                name = rules.split_principal_name(ref.value, account.default_domain, ref.parameter)
            # Live names are unique and the caller is live: its own name means itself.
            own = principal.user_id if name == principal.user_name else None
            self._authorize_user(tx, principal, account, action, name, own)
            return self._user(tx, account, ref, lock=lock, tags=tags)
        try:
            user = self._user(tx, account, ref, lock=lock, tags=tags)
        except NotFound as missing:
            self._unknown_user(tx, principal, account, action, missing)
        self._authorize_user(tx, principal, account, action, user.name, user.user_id)
        return user

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
