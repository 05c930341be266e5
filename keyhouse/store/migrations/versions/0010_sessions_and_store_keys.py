"""sts_sessions and store_keys: live temporary credentials by sealing key; the trail's chain key

- ``sts_sessions``: each temporary credential minted and not yet expired, with the master key
  id that sealed its token, so that ``keyhouse master-key retire`` refuses a key that live
  sessions still need (or, forced, says how many it ends and until when).
- ``store_keys``: keys of the store itself, sealed under the master keyring. ``audit-chain``
  keys the audit trail's hash chain (an HMAC, keyhouse.domain.audit): someone who can write to
  the database but has no master key can no longer rewrite events and recompute the chain.
  The key is made, and the chains hashed before this revision are re-keyed (after their plain
  SHA-256 chain is checked: a chain already broken stays broken where it was), by the first
  Keyhouse process that opens the keyring (keyhouse.services.masterkeys.open_chain_key), since
  a migration has no master key.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sts_sessions",
        sa.Column("access_key_id", sa.String(length=32), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("access_key_id", name=op.f("pk_sts_sessions")),
    )
    op.create_index(
        op.f("ix_sts_sessions_key_id_expires_at"), "sts_sessions", ["key_id", "expires_at"]
    )
    op.create_index(op.f("ix_sts_sessions_expires_at"), "sts_sessions", ["expires_at"])
    op.create_table(
        "store_keys",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("secret_key_id", sa.String(length=32), nullable=False),
        sa.Column("secret_sealed", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_store_keys")),
    )


def downgrade() -> None:
    op.drop_table("store_keys")
    op.drop_index(op.f("ix_sts_sessions_expires_at"), table_name="sts_sessions")
    op.drop_index(op.f("ix_sts_sessions_key_id_expires_at"), table_name="sts_sessions")
    op.drop_table("sts_sessions")
