"""mfa_devices, the MFA security preference, and sessions that wait for an MFA code

- ``mfa_devices``: virtual MFA devices (IMS CreateVirtualMFADevice), the TOTP seed sealed with
  the master key like every stored secret, the holder (a user ID, "owner" for the account
  owner, NULL while unbound; one device a holder), and the last time step a code was accepted
  for (a code is used once).
- ``accounts.mfa_for_login`` and ``accounts.allow_user_manage_mfa``: the security preference's
  MFAOperationForLogin and AllowUserToManageMFADevices.
- ``console_sessions.mfa_stage``: a session that signed in with a password and still owes an
  MFA code ("code") or a device ("bind") opens no page but that step.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "mfa_devices",
        sa.Column("serial_number", sa.String(length=128), nullable=False),
        sa.Column("account_id", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=16), nullable=True),
        sa.Column("secret_key_id", sa.String(length=32), nullable=False),
        sa.Column("secret_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_step", sa.BigInteger(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.account_id"], name=op.f("fk_mfa_devices_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("serial_number", name=op.f("pk_mfa_devices")),
        sa.UniqueConstraint("account_id", "holder", name=op.f("uq_mfa_devices_account_id_holder")),
    )
    # Plain ADD COLUMN (not batch mode): a batch would rebuild ``accounts`` on SQLite and drop
    # its cache-epoch triggers (migration 0007).
    op.add_column(
        "accounts",
        sa.Column(
            "mfa_for_login", sa.String(length=16), nullable=False, server_default="independent"
        ),
    )
    op.add_column(
        "accounts",
        sa.Column("allow_user_manage_mfa", sa.Boolean(), nullable=False, server_default=sa.true()),
    )
    op.add_column(
        "console_sessions",
        sa.Column("mfa_stage", sa.String(length=8), nullable=False, server_default=""),
    )


def downgrade() -> None:
    op.drop_column("console_sessions", "mfa_stage")
    op.drop_column("accounts", "allow_user_manage_mfa")
    op.drop_column("accounts", "mfa_for_login")
    op.drop_table("mfa_devices")
