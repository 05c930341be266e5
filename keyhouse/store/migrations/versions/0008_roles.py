"""roles: RAM roles, whose policies are attachments like users' and groups'

A role's change bumps its account's cache epoch (keyhouse.store.cache), as a user's does: a
temporary credential checked against a cached role stops working on the very next request
after the role is changed or deleted, on every instance.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "roles",
        sa.Column("role_id", sa.String(length=20), nullable=False),
        sa.Column("account_id", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("name_lower", sa.String(length=64), nullable=False),
        sa.Column("description", sa.String(length=1024), nullable=False),
        sa.Column("trust_policy", sa.Text(), nullable=False),
        sa.Column("max_session_duration", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.account_id"], name=op.f("fk_roles_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("role_id", name=op.f("pk_roles")),
        sa.UniqueConstraint(
            "account_id", "name_lower", name=op.f("uq_roles_account_id_name_lower")
        ),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE CONSTRAINT TRIGGER kh_epoch_roles AFTER INSERT OR UPDATE OR DELETE ON roles "
            "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION kh_epoch_bump()"
        )
        return
    bump = "UPDATE cache_epochs SET epoch = epoch + 1 WHERE account_id = {row}.account_id;"
    for event, row in (("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD")):
        op.execute(
            f"CREATE TRIGGER kh_epoch_roles_{event.lower()} AFTER {event} ON roles "
            f"BEGIN {bump.format(row=row)} END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER kh_epoch_roles ON roles")
    else:
        for event in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER kh_epoch_roles_{event}")
    op.drop_table("roles")
