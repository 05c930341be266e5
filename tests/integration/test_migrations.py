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
