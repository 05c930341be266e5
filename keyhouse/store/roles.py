"""RAM roles, and the roles a policy is attached to, in one open transaction (mixed into
keyhouse.store.sql.Tx)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from keyhouse.domain import trust
from keyhouse.domain.errors import AlreadyExists
from keyhouse.domain.model import Role
from keyhouse.store.access import grants_of
from keyhouse.store.schema import attachments, roles


def role_from(row: Any) -> Role:
    return Role(
        role_id=row.role_id,
        account_id=row.account_id,
        name=row.name,
        description=row.description,
        trust_policy=row.trust_policy,
        max_session_duration=int(row.max_session_duration),
        created_at=row.created_at,
        updated_at=row.updated_at,
        trust_bindings=trust.bindings_from(json.loads(row.trust_bindings)),
    )


# The documents of the policies attached to a role.
_ROLE_GRANTS = grants_of(
    select(attachments.c.policy_type, attachments.c.policy_name, attachments.c.account_id)
    .where(
        attachments.c.principal_type == "Role", attachments.c.principal_id == bindparam("role_id")
    )
    .subquery()
)


class RolesTx:
    _c: Connection

    def role_grants(self, role_id: str) -> list[tuple[str, str, str | None]]:
        """(policy type, policy name, default document or None for system) of every policy
        attached to the role."""
        rows = self._c.execute(_ROLE_GRANTS, {"role_id": role_id})
        return [(r.policy_type, r.policy_name, r.document) for r in rows]

    def get_role(self, account_id: str, name: str, *, lock: bool = False) -> Role | None:
        """The account's role of this name, whatever its case."""
        q = select(roles).where(
            roles.c.account_id == account_id, roles.c.name_lower == name.lower()
        )
        if lock:
            q = q.with_for_update(key_share=True)
        row = self._c.execute(q).first()
        return role_from(row) if row else None

    def count_roles(self, account_id: str) -> int:
        q = select(func.count()).select_from(roles).where(roles.c.account_id == account_id)
        return int(self._c.scalar(q) or 0)

    def list_roles(self, account_id: str, after: str | None, limit: int) -> list[Role]:
        """By lower-cased name, from after ``after`` (a lower-cased name)."""
        q = select(roles).where(roles.c.account_id == account_id)
        if after is not None:
            q = q.where(roles.c.name_lower > after)
        q = q.order_by(roles.c.name_lower).limit(limit)
        return [role_from(r) for r in self._c.execute(q)]

    def insert_role(self, role: Role) -> None:
        try:
            with self._c.begin_nested():
                self._c.execute(insert(roles).values(**_values(role)))
        except IntegrityError as exc:
            raise AlreadyExists(
                "role", f"A role with this name already exists: {role.name}."
            ) from exc

    def update_role(self, role: Role) -> None:
        values = _values(role)
        del values["role_id"]
        self._c.execute(update(roles).where(roles.c.role_id == role.role_id).values(**values))

    def delete_role(self, role_id: str) -> None:
        self._c.execute(delete(roles).where(roles.c.role_id == role_id))

    def roles_of_policy(
        self, account_id: str, policy_type: str, policy_name: str
    ) -> list[tuple[Role, datetime]]:
        """The roles the policy is attached to (with the attach date), by name."""
        rows = self._c.execute(
            select(roles, attachments.c.attached_at)
            .join(
                attachments,
                and_(
                    attachments.c.principal_type == "Role",
                    attachments.c.principal_id == roles.c.role_id,
                ),
            )
            .where(
                attachments.c.account_id == account_id,
                attachments.c.policy_type == policy_type,
                attachments.c.policy_name == policy_name,
            )
            .order_by(roles.c.name_lower)
        )
        return [(role_from(r), r.attached_at) for r in rows]


def _values(role: Role) -> dict[str, Any]:
    return {
        "role_id": role.role_id,
        "account_id": role.account_id,
        "name": role.name,
        "name_lower": role.name.lower(),
        "description": role.description,
        "trust_policy": role.trust_policy,
        "trust_bindings": json.dumps(
            {trust.binding_key(k): v for k, v in role.trust_bindings.items()}, sort_keys=True
        ),
        "max_session_duration": role.max_session_duration,
        "created_at": role.created_at,
        "updated_at": role.updated_at,
    }
