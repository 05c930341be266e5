"""Store methods for access control: policies, versions, groups, attachments, network
policies and leak protection. Mixed into :class:`keyhouse.store.sql.Tx`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, insert, select, union_all, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from keyhouse.domain.errors import AlreadyExists
from keyhouse.domain.model import Attachment, CustomPolicy, Group, PolicyVersion, User
from keyhouse.store.schema import (
    access_keys,
    accounts,
    attachments,
    group_members,
    groups,
    policies,
    policy_versions,
    users,
)
from keyhouse.store.users import user_from


def _policy(row: Any) -> CustomPolicy:
    return CustomPolicy(
        account_id=row.account_id,
        name=row.name,
        description=row.description,
        default_version=row.default_version,
        next_version=row.next_version,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _group(row: Any) -> Group:
    return Group(
        group_id=row.group_id,
        account_id=row.account_id,
        name=row.name,
        comments=row.comments,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


# The documents of every policy that applies to a user: attached to it, or to a group it is in.
# Custom policies contribute their default version; system ones are resolved by the caller.
_MINE = select(
    attachments.c.policy_type, attachments.c.policy_name, attachments.c.account_id
).where(attachments.c.principal_type == "User", attachments.c.principal_id == bindparam("user_id"))
_GROUPS = (
    select(attachments.c.policy_type, attachments.c.policy_name, attachments.c.account_id)
    .join(
        group_members,
        and_(
            attachments.c.principal_type == "Group",
            attachments.c.principal_id == group_members.c.group_id,
        ),
    )
    .where(group_members.c.user_id == bindparam("user_id"))
)
_APPLICABLE = union_all(_MINE, _GROUPS).subquery()


def grants_of(applicable: Any) -> Any:
    """(policy type, policy name, default document) of the attachments ``applicable`` selects
    (policy_type, policy_name, account_id): a custom policy's default version; None for a
    system one, which the caller resolves."""
    return select(
        applicable.c.policy_type, applicable.c.policy_name, policy_versions.c.document
    ).select_from(
        applicable.outerjoin(
            policies,
            and_(
                applicable.c.policy_type == "Custom",
                policies.c.account_id == applicable.c.account_id,
                policies.c.name == applicable.c.policy_name,
            ),
        ).outerjoin(
            policy_versions,
            and_(
                policy_versions.c.account_id == policies.c.account_id,
                policy_versions.c.policy_name == policies.c.name,
                policy_versions.c.version_id == policies.c.default_version,
            ),
        )
    )


_GRANTS = grants_of(_APPLICABLE)


class AccessControlTx:
    _c: Connection

    def _insert_new(self, statement: Any, entity: str, message: str) -> None:
        """Run an INSERT; a unique-key clash is AlreadyExists(entity), the transaction intact."""
        try:
            with self._c.begin_nested():
                self._c.execute(statement)
        except IntegrityError as exc:
            raise AlreadyExists(entity, message) from exc

    # -- what applies to a request ----------------------------------------------------------
    def grants(self, user_id: str) -> list[tuple[str, str, str | None]]:
        """(policy type, policy name, default document or None for system) of every policy
        attached to the user or to one of its groups."""
        rows = self._c.execute(_GRANTS, {"user_id": user_id})
        return [(r.policy_type, r.policy_name, r.document) for r in rows]

    def bump_grants(self, account_id: str) -> None:
        """Invalidate every cached grant set of the account (see accounts.grants_epoch)."""
        self._c.execute(
            update(accounts)
            .where(accounts.c.account_id == account_id)
            .values(grants_epoch=accounts.c.grants_epoch + 1)
        )

    # -- custom policies --------------------------------------------------------------------
    def get_policy(self, account_id: str, name: str, *, lock: bool = False) -> CustomPolicy | None:
        q = select(policies).where(policies.c.account_id == account_id, policies.c.name == name)
        if lock:
            q = q.with_for_update(key_share=True)
        row = self._c.execute(q).first()
        return _policy(row) if row else None

    def count_policies(self, account_id: str) -> int:
        q = select(func.count()).select_from(policies).where(policies.c.account_id == account_id)
        return int(self._c.scalar(q) or 0)

    def list_policies(self, account_id: str, after: str | None, limit: int) -> list[CustomPolicy]:
        q = select(policies).where(policies.c.account_id == account_id)
        if after is not None:
            q = q.where(policies.c.name > after)
        rows = self._c.execute(q.order_by(policies.c.name).limit(limit))
        return [_policy(r) for r in rows]

    def insert_policy(self, policy: CustomPolicy, document: str) -> None:
        values = {
            "account_id": policy.account_id,
            "name": policy.name,
            "description": policy.description,
            "default_version": policy.default_version,
            "next_version": policy.next_version,
            "created_at": policy.created_at,
            "updated_at": policy.updated_at,
        }
        message = f"The policy already exists: {policy.name}."
        self._insert_new(insert(policies).values(values), "policy", message)
        self.insert_version(
            policy.account_id, policy.name, policy.default_version, document, policy.created_at
        )

    def update_policy(self, policy: CustomPolicy) -> None:
        self._c.execute(
            update(policies)
            .where(policies.c.account_id == policy.account_id, policies.c.name == policy.name)
            .values(
                description=policy.description,
                default_version=policy.default_version,
                next_version=policy.next_version,
                updated_at=policy.updated_at,
            )
        )

    def delete_policy(self, account_id: str, name: str) -> None:
        self._c.execute(
            delete(policy_versions).where(
                policy_versions.c.account_id == account_id, policy_versions.c.policy_name == name
            )
        )
        self._c.execute(
            delete(policies).where(policies.c.account_id == account_id, policies.c.name == name)
        )

    def insert_version(
        self, account_id: str, name: str, version_id: str, document: str, at: datetime
    ) -> None:
        self._c.execute(
            insert(policy_versions).values(
                account_id=account_id,
                policy_name=name,
                version_id=version_id,
                document=document,
                created_at=at,
            )
        )

    def list_versions(self, policy: CustomPolicy) -> list[PolicyVersion]:
        q = select(policy_versions).where(
            policy_versions.c.account_id == policy.account_id,
            policy_versions.c.policy_name == policy.name,
        )
        rows = self._c.execute(q.order_by(policy_versions.c.created_at))
        found = [
            PolicyVersion(
                r.version_id, r.document, r.created_at, r.version_id == policy.default_version
            )
            for r in rows
        ]
        return sorted(found, key=lambda v: int(v.version_id[1:]))

    def delete_version(self, policy: CustomPolicy, version_id: str) -> None:
        self._c.execute(
            delete(policy_versions).where(
                policy_versions.c.account_id == policy.account_id,
                policy_versions.c.policy_name == policy.name,
                policy_versions.c.version_id == version_id,
            )
        )

    # -- attachments ------------------------------------------------------------------------
    def attach(
        self,
        account_id: str,
        principal_type: str,
        principal_id: str,
        policy_type: str,
        policy_name: str,
        at: datetime,
    ) -> None:
        statement = insert(attachments).values(
            principal_type=principal_type,
            principal_id=principal_id,
            policy_type=policy_type,
            policy_name=policy_name,
            account_id=account_id,
            attached_at=at,
        )
        message = f"The policy is already attached: {policy_name}."
        self._insert_new(statement, f"{principal_type.lower()}.policy", message)

    def detach(
        self, principal_type: str, principal_id: str, policy_type: str, policy_name: str
    ) -> bool:
        result = self._c.execute(
            delete(attachments)
            .where(
                attachments.c.principal_type == principal_type,
                attachments.c.principal_id == principal_id,
                attachments.c.policy_type == policy_type,
                attachments.c.policy_name == policy_name,
            )
            .returning(attachments.c.policy_name)
        )
        return result.first() is not None

    def attachments_of(self, principal_type: str, principal_id: str) -> list[Attachment]:
        q = (
            select(attachments)
            .where(
                attachments.c.principal_type == principal_type,
                attachments.c.principal_id == principal_id,
            )
            .order_by(attachments.c.attached_at, attachments.c.policy_name)
        )
        return [Attachment(r.policy_type, r.policy_name, r.attached_at) for r in self._c.execute(q)]

    def attachment_count(self, account_id: str, policy_type: str, policy_name: str) -> int:
        q = select(func.count()).where(
            attachments.c.account_id == account_id,
            attachments.c.policy_type == policy_type,
            attachments.c.policy_name == policy_name,
        )
        return int(self._c.scalar(q) or 0)

    def entities_of(
        self, account_id: str, policy_type: str, policy_name: str
    ) -> tuple[list[tuple[User, datetime]], list[tuple[Group, datetime]]]:
        """Users and groups the policy is attached to (with the attach date)."""
        base = and_(
            attachments.c.account_id == account_id,
            attachments.c.policy_type == policy_type,
            attachments.c.policy_name == policy_name,
        )
        user_rows = self._c.execute(
            select(users, attachments.c.attached_at)
            .join(
                attachments,
                and_(
                    attachments.c.principal_type == "User",
                    attachments.c.principal_id == users.c.user_id,
                ),
            )
            .where(base)
            .order_by(users.c.name)
        )
        group_rows = self._c.execute(
            select(groups, attachments.c.attached_at)
            .join(
                attachments,
                and_(
                    attachments.c.principal_type == "Group",
                    attachments.c.principal_id == groups.c.group_id,
                ),
            )
            .where(base)
            .order_by(groups.c.name)
        )
        return (
            [(user_from(r), r.attached_at) for r in user_rows],
            [(_group(r), r.attached_at) for r in group_rows],
        )

    def detach_everywhere(self, account_id: str, policy_type: str, policy_name: str) -> None:
        self._c.execute(
            delete(attachments).where(
                attachments.c.account_id == account_id,
                attachments.c.policy_type == policy_type,
                attachments.c.policy_name == policy_name,
            )
        )

    # -- groups -----------------------------------------------------------------------------
    def get_group(self, account_id: str, name: str, *, lock: bool = False) -> Group | None:
        q = select(groups).where(groups.c.account_id == account_id, groups.c.name == name)
        if lock:
            q = q.with_for_update(key_share=True)
        row = self._c.execute(q).first()
        return _group(row) if row else None

    def list_groups(self, account_id: str, after: str | None, limit: int) -> list[Group]:
        q = select(groups).where(groups.c.account_id == account_id)
        if after is not None:
            q = q.where(groups.c.name > after)
        return [_group(r) for r in self._c.execute(q.order_by(groups.c.name).limit(limit))]

    def insert_group(self, group: Group) -> None:
        statement = insert(groups).values(
            group_id=group.group_id,
            account_id=group.account_id,
            name=group.name,
            comments=group.comments,
            created_at=group.created_at,
            updated_at=group.updated_at,
        )
        self._insert_new(statement, "group", f"The group already exists: {group.name}.")

    def update_group(self, group: Group) -> None:
        try:
            with self._c.begin_nested():
                self._c.execute(
                    update(groups)
                    .where(groups.c.group_id == group.group_id)
                    .values(name=group.name, comments=group.comments, updated_at=group.updated_at)
                )
        except IntegrityError as exc:
            raise AlreadyExists("group", f"The group already exists: {group.name}.") from exc

    def delete_group(self, group_id: str) -> None:
        self._c.execute(delete(groups).where(groups.c.group_id == group_id))

    def add_member(self, group_id: str, user_id: str, at: datetime) -> None:
        statement = insert(group_members).values(group_id=group_id, user_id=user_id, joined_at=at)
        self._insert_new(statement, "group.user", "The user is already in the group.")

    def remove_member(self, group_id: str, user_id: str) -> bool:
        result = self._c.execute(
            delete(group_members)
            .where(group_members.c.group_id == group_id, group_members.c.user_id == user_id)
            .returning(group_members.c.user_id)
        )
        return result.first() is not None

    def groups_of(self, user_id: str) -> list[tuple[Group, datetime]]:
        q = (
            select(groups, group_members.c.joined_at)
            .join(group_members, group_members.c.group_id == groups.c.group_id)
            .where(group_members.c.user_id == user_id)
            .order_by(groups.c.name)
        )
        return [(_group(r), r.joined_at) for r in self._c.execute(q)]

    def members_of(
        self, group_id: str, after: str | None, limit: int
    ) -> list[tuple[User, datetime]]:
        q = (
            select(users, group_members.c.joined_at)
            .join(group_members, group_members.c.user_id == users.c.user_id)
            .where(group_members.c.group_id == group_id)
        )
        if after is not None:
            q = q.where(users.c.name > after)
        rows = self._c.execute(q.order_by(users.c.name).limit(limit))
        return [(user_from(r), r.joined_at) for r in rows]

    def count_members(self, group_id: str) -> int:
        q = select(func.count()).where(group_members.c.group_id == group_id)
        return int(self._c.scalar(q) or 0)

    # -- network access policies and leak protection ----------------------------------------
    def account_network_policy(self, account_id: str) -> str | None:
        q = select(accounts.c.network_policy).where(accounts.c.account_id == account_id)
        return self._c.scalar(q)

    def set_account_network_policy(self, account_id: str, document: str) -> None:
        self._c.execute(
            update(accounts)
            .where(accounts.c.account_id == account_id)
            .values(network_policy=document)
        )

    def key_network_policy(self, access_key_id: str) -> str | None:
        q = select(access_keys.c.network_policy).where(access_keys.c.access_key_id == access_key_id)
        return self._c.scalar(q)

    def set_key_network_policy(self, access_key_id: str, document: str) -> None:
        self._c.execute(
            update(access_keys)
            .where(access_keys.c.access_key_id == access_key_id)
            .values(network_policy=document)
        )

    def set_protection(self, access_key_id: str, reason: str | None, at: datetime | None) -> bool:
        result = self._c.execute(
            update(access_keys)
            .where(access_keys.c.access_key_id == access_key_id)
            .values(protected_reason=reason, protected_at=at)
            .returning(access_keys.c.access_key_id)
        )
        return result.first() is not None

    def protection(self, access_key_ids: Sequence[str]) -> dict[str, tuple[str, datetime]]:
        q = select(
            access_keys.c.access_key_id, access_keys.c.protected_reason, access_keys.c.protected_at
        ).where(
            access_keys.c.access_key_id.in_(access_key_ids),
            access_keys.c.protected_reason.is_not(None),
        )
        return {r.access_key_id: (r.protected_reason, r.protected_at) for r in self._c.execute(q)}
