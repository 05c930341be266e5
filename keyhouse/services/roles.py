"""RAM roles: create, read, list, update and delete them (their policies are attached through
keyhouse.services.policies, like users' and groups')."""

from __future__ import annotations

import dataclasses

from keyhouse import ids
from keyhouse.domain import rules, trust
from keyhouse.domain.actions import Action, role_resource
from keyhouse.domain.errors import Conflict, InvalidValue, LimitExceeded, NotFound
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
