"""User groups: members share the policies attached to the group."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from keyhouse import ids
from keyhouse.domain import rules
from keyhouse.domain.actions import Action
from keyhouse.domain.arn import group_resource
from keyhouse.domain.errors import Conflict, InvalidValue, LimitExceeded, NotFound
from keyhouse.domain.model import Account, Group, Principal, User
from keyhouse.services.base import UseCases, UserRef
from keyhouse.services.trail import draft as audit
from keyhouse.store.sql import Tx


class Groups(UseCases):
    def _named(
        self,
        tx: Tx,
        principal: Principal,
        account: Account,
        action: Action,
        name: str,
        *,
        lock: bool = False,
    ) -> Group:
        """The group, once the caller may perform ``action`` on it (checked first)."""
        rules.validate_group_name(name)
        self._authorize(tx, principal, account, action, group_resource(account.account_id, name))
        group = tx.get_group(account.account_id, name, lock=lock)
        if group is None:
            raise NotFound("group", f"The group does not exist: {name}.")
        return group

    def create(self, principal: Principal, name: str, comments: str = "") -> Group:
        rules.validate_group_name(name)
        rules.validate_comments(comments, "Comments")
        now = self.clock.now()
        with self.store.transaction(write=True) as tx:
            account = self._account(tx, principal)
            resource = group_resource(account.account_id, name)
            self._authorize(tx, principal, account, Action.CreateGroup, resource)
            group = Group(ids.group_id(), account.account_id, name, comments, now, now)
            tx.insert_group(group)
            audit.annotate(GroupId=group.group_id, GroupName=group.name)
            return group

    def get(self, principal: Principal, name: str) -> Group:
        with self.store.transaction() as tx:
            account = self._account(tx, principal)
            return self._named(tx, principal, account, Action.GetGroup, name)

    def update(
        self, principal: Principal, name: str, new_name: str | None, new_comments: str | None
    ) -> Group:
        if new_name is not None:
            rules.validate_group_name(new_name, "NewGroupName")
        if new_comments is not None:
            rules.validate_comments(new_comments, "NewComments")
        now = self.clock.now()
        with self.store.transaction(write=True) as tx:
            account = self._account(tx, principal)
            group = self._named(tx, principal, account, Action.UpdateGroup, name, lock=True)
            if new_name is not None and new_name != group.name:
                # A rename acts on the new name too, as for users.
                resource = group_resource(account.account_id, new_name)
                self._authorize(tx, principal, account, Action.UpdateGroup, resource)
            updated = dataclasses.replace(
                group,
                name=new_name if new_name is not None else group.name,
                comments=new_comments if new_comments is not None else group.comments,
                updated_at=now,
            )
            tx.update_group(updated)
            return updated

    def page(
        self, principal: Principal, marker: str | None, max_items: int
    ) -> tuple[list[Group], str]:
        with self.store.transaction() as tx:
            account = self._account(tx, principal, Action.ListGroups)
            found = tx.list_groups(account.account_id, marker or None, max_items + 1)
        page = found[:max_items]
        return page, (page[-1].name if len(found) > max_items else "")

    def delete(self, principal: Principal, name: str) -> None:
        with self.store.transaction(write=True) as tx:
            account = self._account(tx, principal)
            group = self._named(tx, principal, account, Action.DeleteGroup, name, lock=True)
            if tx.count_members(group.group_id):
                raise Conflict("group.user", "The group has members; remove them first.")
            if tx.attachments_of("Group", group.group_id):
                raise Conflict(
                    "group.policy", "The group has policies attached; detach them first."
                )
            tx.delete_group(group.group_id)

    def add_user(self, principal: Principal, name: str, ref: UserRef) -> None:
        now = self.clock.now()
        with self.store.transaction(write=True) as tx:
            account = self._account(tx, principal)
            group = self._named(tx, principal, account, Action.AddUserToGroup, name, lock=True)
            user = self._target(
                tx, principal, account, Action.AddUserToGroup, ref, lock=True, tags=False
            )
            if len(tx.groups_of(user.user_id)) >= rules.GROUPS_PER_USER:
                raise LimitExceeded(
                    "user.group", f"A user can be in at most {rules.GROUPS_PER_USER} groups."
                )
            tx.add_member(group.group_id, user.user_id, now)
            tx.bump_grants(account.account_id)

    def remove_user(self, principal: Principal, name: str, ref: UserRef) -> None:
        with self.store.transaction(write=True) as tx:
            account = self._account(tx, principal)
            group = self._named(tx, principal, account, Action.RemoveUserFromGroup, name, lock=True)
            user = self._target(tx, principal, account, Action.RemoveUserFromGroup, ref, tags=False)
            if not tx.remove_member(group.group_id, user.user_id):
                raise NotFound("group.user", "The user is not in the group.")
            tx.bump_grants(account.account_id)

    def for_user(self, principal: Principal, ref: UserRef) -> list[tuple[Group, datetime]]:
        with self.store.transaction() as tx:
            account = self._account(tx, principal)
            user = self._target(tx, principal, account, Action.ListGroupsForUser, ref, tags=False)
            return tx.groups_of(user.user_id)

    def members(
        self, principal: Principal, name: str, marker: str | None, max_items: int
    ) -> tuple[list[tuple[User, datetime]], str]:
        if marker is not None and not marker:
            raise InvalidValue("Marker", "The marker is not one this service returned.")
        with self.store.transaction() as tx:
            account = self._account(tx, principal)
            group = self._named(tx, principal, account, Action.ListUsersForGroup, name)
            found = tx.members_of(group.group_id, marker, max_items + 1)
        page = found[:max_items]
        return page, (page[-1][0].name if len(found) > max_items else "")
