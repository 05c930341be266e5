"""RAM roles: create, read, list, update and delete them (their policies are attached through
keyhouse.services.policies, like users' and groups')."""

from __future__ import annotations

import dataclasses

from keyhouse import ids
from keyhouse.domain import rules, trust
from keyhouse.domain.actions import Action
from keyhouse.domain.arn import identity_arn, role_resource
from keyhouse.domain.errors import (
    Conflict,
    InvalidValue,
    LimitExceeded,
    MalformedDocument,
    NotFound,
)
from keyhouse.domain.model import Account, Principal, Role
from keyhouse.services.base import UseCases
from keyhouse.store.sql import Tx


def named_role(
    uc: UseCases,
    tx: Tx,
    principal: Principal,
    account: Account,
    action: Action,
    name: str,
    *,
    lock: bool = False,
) -> Role:
    """The account's role ``name`` (any case), once the caller may perform ``action`` on it:
    permission is checked first, so a caller without it learns nothing about which roles
    exist."""
    rules.validate_role_name(name)
    uc._authorize(tx, principal, account, action, role_resource(account.account_id, name))
    role = tx.get_role(account.account_id, name, lock=lock)
    if role is None:
        raise NotFound("role", f"The role does not exist: {name}.")
    return role


def bind_trust(tx: Tx, account_id: str, document: str) -> dict[trust.Identity, str]:
    """Each user and role the trust policy names, bound to its ID (stored with the policy; see
    keyhouse.domain.trust). A principal of the caller's own account must exist (live); one of
    another account that does not is bound to nothing, so it trusts nobody, and the answer is
    the same either way: a trust policy cannot probe another account's names."""
    bound: dict[trust.Identity, str] = {}
    for identity in sorted(trust.parse(document).identities()):
        kind, owner, name = identity
        found: str | None = None
        if kind == "user":
            user = tx.get_live_user_by_name(owner, name, tags=False)
            found = user.user_id if user is not None else None
        else:
            role = tx.get_role(owner, name)
            found = role.role_id if role is not None else None
        if found is not None:
            bound[identity] = found
        elif owner == account_id:
            raise MalformedDocument(
                f"The trust policy is not valid: the principal {identity_arn(owner, kind, name)} "
                "does not exist. A trust policy names existing users and roles; it stays bound "
                "to them, not to whoever holds the name later."
            )
    return bound


class Roles(UseCases):
    def create(
        self,
        principal: Principal,
        name: str,
        trust_policy: str,
        description: str = "",
        max_session_duration: int | None = None,
    ) -> Role:
        rules.validate_role_name(name)
        rules.validate_description(description)
        duration = rules.validate_max_session_duration(max_session_duration or 3600)
        trust.parse(trust_policy)
        now = self.clock.now()
        with self.store.transaction(write=True) as tx:
            account = self._account(tx, principal, lock=True)
            resource = role_resource(account.account_id, name)
            self._authorize(tx, principal, account, Action.CreateRole, resource)
            if tx.count_roles(account.account_id) >= rules.ROLE_LIMIT:
                raise LimitExceeded("role", f"An account holds at most {rules.ROLE_LIMIT} roles.")
            role = Role(
                ids.role_id(),
                account.account_id,
                name,
                description,
                trust_policy,
                duration,
                now,
                now,
                bind_trust(tx, account.account_id, trust_policy),
            )
            tx.insert_role(role)
            return role

    def get(self, principal: Principal, name: str) -> Role:
        with self.store.transaction() as tx:
            account = self._account(tx, principal)
            return named_role(self, tx, principal, account, Action.GetRole, name)

    def page(
        self, principal: Principal, marker: str | None, max_items: int
    ) -> tuple[list[Role], str]:
        """Roles by name (case aside); the marker is the last name of the page."""
        if marker is not None and not marker:
            raise InvalidValue("Marker", "The marker is not one this service returned.")
        with self.store.transaction() as tx:
            account = self._account(tx, principal, Action.ListRoles)
            found = tx.list_roles(
                account.account_id, marker.lower() if marker else None, max_items + 1
            )
        page = found[:max_items]
        return page, (page[-1].name.lower() if len(found) > max_items else "")

    def update(
        self,
        principal: Principal,
        name: str,
        *,
        trust_policy: str | None = None,
        description: str | None = None,
        max_session_duration: int | None = None,
    ) -> Role:
        if trust_policy is not None:
            trust.parse(trust_policy)
        if description is not None:
            rules.validate_description(description, "NewDescription")
        if max_session_duration is not None:
            rules.validate_max_session_duration(max_session_duration, "NewMaxSessionDuration")
        with self.store.transaction(write=True) as tx:
            account = self._account(tx, principal)
            role = named_role(self, tx, principal, account, Action.UpdateRole, name, lock=True)
            role = dataclasses.replace(
                role,
                trust_policy=role.trust_policy if trust_policy is None else trust_policy,
                trust_bindings=(
                    role.trust_bindings
                    if trust_policy is None
                    else bind_trust(tx, account.account_id, trust_policy)
                ),
                description=role.description if description is None else description,
                max_session_duration=max_session_duration or role.max_session_duration,
                updated_at=self.clock.now(),
            )
            tx.update_role(role)
            return role

    def delete(self, principal: Principal, name: str) -> None:
        with self.store.transaction(write=True) as tx:
            account = self._account(tx, principal)
            role = named_role(self, tx, principal, account, Action.DeleteRole, name, lock=True)
            if tx.attachments_of("Role", role.role_id):
                raise Conflict("role.policy", "The role has policies attached; detach them first.")
            tx.delete_role(role.role_id)
