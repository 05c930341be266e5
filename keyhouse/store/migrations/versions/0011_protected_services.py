"""protected_services: the services an account puts behind a gateway that asks Keyhouse

Each row is one service's routes and signed actions (keyhouse.domain.gateway). Changing one
bumps the account's cache epoch by trigger, as migration 0007 does for users and keys, so a
gateway's verification answered from the cache is never answered from a definition that
changed.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "protected_services",
        sa.Column("account_id", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=16), nullable=False),
        sa.Column("description", sa.String(length=1024), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.account_id"],
            name=op.f("fk_protected_services_account_id_accounts"),
        ),
        sa.PrimaryKeyConstraint("account_id", "name", name=op.f("pk_protected_services")),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE CONSTRAINT TRIGGER kh_epoch_protected_services AFTER INSERT OR UPDATE OR "
            "DELETE ON protected_services DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
            "EXECUTE FUNCTION kh_epoch_bump()"
        )
        return
    bump = "UPDATE cache_epochs SET epoch = epoch + 1 WHERE account_id = {row}.account_id;"
    for event, row in (("insert", "NEW"), ("update", "NEW"), ("delete", "OLD")):
        op.execute(
            f"CREATE TRIGGER kh_epoch_protected_services_{event} AFTER {event.upper()} ON "
            f"protected_services BEGIN {bump.format(row=row)} END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER kh_epoch_protected_services ON protected_services")
    else:
        for event in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER kh_epoch_protected_services_{event}")
    op.drop_table("protected_services")
