"""pipeline: a per-account cache epoch, bumped by the database itself

Every change to what the in-process caches hold (the account row, its users, its AccessKeys
other than their last-used note) bumps the account's row in ``cache_epochs``, by trigger, in
the changing transaction, whoever makes it: this instance, another one, the CLI, the
retention sweep. A cached answer is good while its account still shows the epoch it was read
under (keyhouse.store.cache).

On PostgreSQL the bump is a deferred constraint trigger: it runs at commit, after every other
lock the transaction takes, so the epoch row is only ever the last lock taken and cannot join
a deadlock (it is a table of its own so that the account row's locks, which use-cases take
first, never wait for it). On SQLite, writers are serialised anyway.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Each table whose rows the caches hold, and the columns whose change matters ("" for all).
_WATCHED = {
    "accounts": (
        " OF name, default_domain, key_deletion, allow_user_manage_keys, grants_epoch, "
        "network_policy"
    ),
    "users": "",
    # All but the last-used note (written with each group-commit batch).
    "access_keys": (
        " OF account_id, user_id, status, secret_key_id, secret_sealed, created_at, updated_at, "
        "recycled_at, delete_at, network_policy, protected_reason, protected_at"
    ),
}


def _sqlite() -> list[str]:
    bump = "UPDATE cache_epochs SET epoch = epoch + 1 WHERE account_id = {row}.account_id;"
    statements = [
        "CREATE TRIGGER kh_epoch_new_account AFTER INSERT ON accounts BEGIN "
        "INSERT INTO cache_epochs (account_id, epoch) VALUES (NEW.account_id, 0); END"
    ]
    for table, columns in _WATCHED.items():
        if table != "accounts":
            statements += [
                f"CREATE TRIGGER kh_epoch_{table}_insert AFTER INSERT ON {table} "
                f"BEGIN {bump.format(row='NEW')} END",
                f"CREATE TRIGGER kh_epoch_{table}_delete AFTER DELETE ON {table} "
                f"BEGIN {bump.format(row='OLD')} END",
            ]
        statements.append(
            f"CREATE TRIGGER kh_epoch_{table}_update AFTER UPDATE{columns} ON {table} "
            f"BEGIN {bump.format(row='OLD')} {bump.format(row='NEW')} END"
        )
    return statements


def _postgresql() -> list[str]:
    statements = [
        """CREATE FUNCTION kh_epoch_new_account() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO cache_epochs (account_id, epoch) VALUES (NEW.account_id, 0);
            RETURN NULL;
        END $$""",
        """CREATE FUNCTION kh_epoch_bump() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP <> 'INSERT' THEN
                UPDATE cache_epochs SET epoch = epoch + 1 WHERE account_id = OLD.account_id;
            END IF;
            IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.account_id <> OLD.account_id) THEN
                UPDATE cache_epochs SET epoch = epoch + 1 WHERE account_id = NEW.account_id;
            END IF;
            RETURN NULL;
        END $$""",
        "CREATE TRIGGER kh_epoch_new_account AFTER INSERT ON accounts "
        "FOR EACH ROW EXECUTE FUNCTION kh_epoch_new_account()",
    ]
    for table, columns in _WATCHED.items():
        events = (
            f"UPDATE{columns}" if table == "accounts" else f"INSERT OR UPDATE{columns} OR DELETE"
        )
        statements.append(
            f"CREATE CONSTRAINT TRIGGER kh_epoch_{table} AFTER {events} ON {table} "
            "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION kh_epoch_bump()"
        )
    return statements


def upgrade() -> None:
    op.create_table(
        "cache_epochs",
        sa.Column("account_id", sa.String(length=16), nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_cache_epochs")),
    )
    op.execute("INSERT INTO cache_epochs (account_id, epoch) SELECT account_id, 0 FROM accounts")
    dialect = op.get_bind().dialect.name
    for statement in _postgresql() if dialect == "postgresql" else _sqlite():
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER kh_epoch_new_account ON accounts")
        for table in _WATCHED:
            op.execute(f"DROP TRIGGER kh_epoch_{table} ON {table}")
        op.execute("DROP FUNCTION kh_epoch_bump()")
        op.execute("DROP FUNCTION kh_epoch_new_account()")
    else:
        op.execute("DROP TRIGGER kh_epoch_new_account")
        for table in _WATCHED:
            events = ("update",) if table == "accounts" else ("insert", "update", "delete")
            for event in events:
                op.execute(f"DROP TRIGGER kh_epoch_{table}_{event}")
    op.drop_table("cache_epochs")
