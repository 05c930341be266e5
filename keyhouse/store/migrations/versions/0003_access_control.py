"""access control: policies, groups, attachments, network policies, leak protection

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(
            sa.Column(
                "allow_user_manage_keys", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )
        batch.add_column(sa.Column("network_policy", sa.Text(), nullable=True))
        batch.add_column(
            sa.Column("grants_epoch", sa.Integer(), nullable=False, server_default="0")
        )
    with op.batch_alter_table("access_keys") as batch:
        batch.add_column(sa.Column("network_policy", sa.Text(), nullable=True))
        batch.add_column(sa.Column("protected_reason", sa.String(length=256), nullable=True))
        batch.add_column(sa.Column("protected_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "policies",
        sa.Column("account_id", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("description", sa.String(length=1024), nullable=False),
        sa.Column("default_version", sa.String(length=16), nullable=False),
        sa.Column("next_version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.account_id"], name=op.f("fk_policies_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("account_id", "name", name=op.f("pk_policies")),
    )
    op.create_table(
        "policy_versions",
        sa.Column("account_id", sa.String(length=16), nullable=False),
        sa.Column("policy_name", sa.String(length=128), nullable=False),
        sa.Column("version_id", sa.String(length=16), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id", "policy_name"],
            ["policies.account_id", "policies.name"],
            name=op.f("fk_policy_versions_account_id_policies"),
        ),
        sa.PrimaryKeyConstraint(
            "account_id", "policy_name", "version_id", name=op.f("pk_policy_versions")
        ),
    )
    op.create_table(
        "groups",
        sa.Column("group_id", sa.String(length=20), nullable=False),
        sa.Column("account_id", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("comments", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.account_id"], name=op.f("fk_groups_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("group_id", name=op.f("pk_groups")),
        sa.UniqueConstraint("account_id", "name", name=op.f("uq_groups_account_id_name")),
    )
    op.create_table(
        "group_members",
        sa.Column("group_id", sa.String(length=20), nullable=False),
        sa.Column("user_id", sa.String(length=16), nullable=False),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"], ["groups.group_id"], name=op.f("fk_group_members_group_id_groups")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.user_id"], name=op.f("fk_group_members_user_id_users")
        ),
        sa.PrimaryKeyConstraint("group_id", "user_id", name=op.f("pk_group_members")),
    )
    op.create_index(op.f("ix_group_members_user_id"), "group_members", ["user_id"])
    op.create_table(
        "attachments",
        sa.Column("principal_type", sa.String(length=8), nullable=False),
        sa.Column("principal_id", sa.String(length=20), nullable=False),
        sa.Column("policy_type", sa.String(length=8), nullable=False),
        sa.Column("policy_name", sa.String(length=128), nullable=False),
        sa.Column("account_id", sa.String(length=16), nullable=False),
        sa.Column("attached_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.account_id"],
            name=op.f("fk_attachments_account_id_accounts"),
        ),
        sa.PrimaryKeyConstraint(
            "principal_type",
            "principal_id",
            "policy_type",
            "policy_name",
            name=op.f("pk_attachments"),
        ),
    )
    op.create_index(
        op.f("ix_attachments_account_id_policy_type_policy_name"),
        "attachments",
        ["account_id", "policy_type", "policy_name"],
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_attachments_account_id_policy_type_policy_name"), "attachments")
    op.drop_table("attachments")
    op.drop_index(op.f("ix_group_members_user_id"), "group_members")
    op.drop_table("group_members")
    op.drop_table("groups")
    op.drop_table("policy_versions")
    op.drop_table("policies")
    with op.batch_alter_table("access_keys") as batch:
        batch.drop_column("protected_at")
        batch.drop_column("protected_reason")
        batch.drop_column("network_policy")
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("grants_epoch")
        batch.drop_column("network_policy")
        batch.drop_column("allow_user_manage_keys")
