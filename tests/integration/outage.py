"""Taking a real server's store away (and giving it back), for both backends."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import psycopg

from tests.conftest import PG_ADMIN
from tests.integration.server import Server


@contextmanager
def store_away(server: Server) -> Iterator[None]:
    """The store unreachable: PostgreSQL refusing this database's connections (and every open
    one killed); SQLite's file locked by another process."""
    if server.database_url.startswith("sqlite"):
        path = urlsplit(server.database_url).path.removeprefix("/")
        holder = sqlite3.connect(path, timeout=60, isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        return
    name = server.database_url.rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
        )
        try:
            yield
        finally:
            admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
