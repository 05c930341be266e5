"""audit trail and credential reports

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("account_id", sa.String(length=16), nullable=False),
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("event_id", sa.String(length=40), nullable=False),
        sa.Column("event_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event_name", sa.String(length=64), nullable=False),
        sa.Column("event_rw", sa.String(length=8), nullable=False),
        sa.Column("service_name", sa.String(length=32), nullable=False),
        sa.Column("access_key_id", sa.String(length=32), nullable=True),
        sa.Column("user_name", sa.String(length=64), nullable=True),
        sa.Column("source_ip", sa.String(length=64), nullable=False),
        sa.Column("error_code", sa.String(length=128), nullable=True),
        sa.Column("resources", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "seq", name=op.f("pk_audit_events")),
        sa.UniqueConstraint("event_id", name=op.f("uq_audit_events_event_id")),
    )
    op.create_index(
        op.f("ix_audit_events_account_id_event_time"), "audit_events", ["account_id", "event_time"]
    )
    op.create_index(
        op.f("ix_audit_events_access_key_id_event_time"),
        "audit_events",
        ["access_key_id", "event_time"],
    )
    op.create_table(
        "audit_heads",
        sa.Column("account_id", sa.String(length=16), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("pruned_seq", sa.BigInteger(), nullable=False),
        sa.Column("pruned_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_audit_heads")),
    )
    op.create_table(
        "credential_reports",
        sa.Column("account_id", sa.String(length=16), nullable=False),
        sa.Column("generated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.account_id"],
            name=op.f("fk_credential_reports_account_id_accounts"),
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_credential_reports")),
    )


def downgrade() -> None:
    op.drop_table("credential_reports")
    op.drop_table("audit_heads")
    op.drop_index(op.f("ix_audit_events_access_key_id_event_time"), "audit_events")
    op.drop_index(op.f("ix_audit_events_account_id_event_time"), "audit_events")
    op.drop_table("audit_events")
