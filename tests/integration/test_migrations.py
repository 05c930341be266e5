"""Migrations upgrade an empty database to exactly the schema the code declares."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from keyhouse.store.migrate import migrate
from keyhouse.store.schema import metadata


@pytest.fixture(params=["sqlite", "postgres"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.db'}"
    return str(request.getfixturevalue("pg_database")) + "_migrations"


def test_upgrade_on_an_empty_database_matches_the_models(empty_database: str) -> None:
    import psycopg

    from tests.conftest import PG_ADMIN

    pg_name = empty_database.rsplit("/", 1)[1] if empty_database.startswith("postgresql") else None
    if pg_name:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{pg_name}"')
    engine = create_engine(empty_database)
    try:
        migrate(engine)
        migrate(engine)  # a second start finds nothing to do
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, metadata) == []
            assert context.get_current_revision() is not None
        names = {c["name"] for c in inspect(engine).get_unique_constraints("users")}
        assert "uq_users_account_id_live_name" in names  # constraints carry their names
    finally:
        engine.dispose()
        if pg_name:
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{pg_name}"')


def test_roles_saved_before_trust_bindings_are_bound_to_whoever_held_the_names(
    tmp_path: Path,
) -> None:
    """Revision 0009 binds each user and role an existing trust policy names to the identity
    holding the name at the upgrade; a name nobody holds is bound to nothing."""
    import json

    from alembic import command
    from sqlalchemy import text

    from keyhouse.store.migrate import alembic_config

    engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        cfg = alembic_config()
        with engine.connect() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0008")
            conn.commit()
            now = "2026-12-01 00:00:00+00:00"
            conn.execute(
                text(
                    "INSERT INTO accounts (account_id, name, default_domain, key_deletion, "
                    "created_at) VALUES ('111', 'a', 'a.onaliyun.com', 'recycle-bin', :t)"
                ),
                {"t": now},
            )
            conn.execute(
                text(
                    "INSERT INTO users (user_id, account_id, name, live_name, display_name, "
                    "comments, email, mobile_phone, created_at, updated_at) VALUES "
                    "('u-alice', '111', 'alice', 'alice', 'alice', '', '', '', :t, :t)"
                ),
                {"t": now},
            )
            document = json.dumps(
                {
                    "Version": "1",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Action": "sts:AssumeRole",
                            "Principal": {
                                "RAM": ["acs:ram::111:user/alice", "acs:ram::111:user/gone"]
                            },
                        }
                    ],
                }
            )
            conn.execute(
                text(
                    "INSERT INTO roles (role_id, account_id, name, name_lower, description, "
                    "trust_policy, max_session_duration, created_at, updated_at) VALUES "
                    "('r1', '111', 'Admin', 'admin', '', :d, 3600, :t, :t)"
                ),
                {"d": document, "t": now},
            )
            conn.commit()
        migrate(engine)
        with engine.connect() as conn:
            bound = conn.execute(text("SELECT trust_bindings FROM roles")).scalar_one()
        assert json.loads(bound) == {"user:111:alice": "u-alice"}
    finally:
        engine.dispose()
