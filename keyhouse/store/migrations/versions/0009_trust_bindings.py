"""roles.trust_bindings: a trust policy's users and roles bound to their IDs

A trust policy that names ``acs:ram::<account>:user/<name>`` used to trust whoever held the name
at the time of AssumeRole: a user renamed into the name, or re-created under it after the named
user left, inherited the role. Each named user and role is now bound to its ID when the policy is
saved (keyhouse.domain.trust). Roles saved before this revision are bound here to the identities
that hold the names now; a name nobody holds is bound to nothing and trusts nobody.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    from keyhouse.domain import trust  # the policy grammar of this revision

    # A plain ADD COLUMN: SQLite's batch mode would copy the table and drop its epoch triggers.
    op.add_column(
        "roles", sa.Column("trust_bindings", sa.Text(), nullable=False, server_default="{}")
    )
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT role_id, trust_policy FROM roles")).fetchall()
    for role_id, document in rows:
        bound: dict[str, str] = {}
        for identity in trust.parse(document).identities():
            kind, owner, name = identity
            if kind == "user":
                found = bind.execute(
                    sa.text("SELECT user_id FROM users WHERE account_id = :a AND live_name = :n"),
                    {"a": owner, "n": name},
                ).scalar()
            else:
                found = bind.execute(
                    sa.text("SELECT role_id FROM roles WHERE account_id = :a AND name_lower = :n"),
                    {"a": owner, "n": name},
                ).scalar()
            if found is not None:
                bound[trust.binding_key(identity)] = str(found)
        bind.execute(
            sa.text("UPDATE roles SET trust_bindings = :b WHERE role_id = :r"),
            {"b": json.dumps(bound, sort_keys=True), "r": role_id},
        )


def downgrade() -> None:
    op.drop_column("roles", "trust_bindings")
