"""What the store's aggregates share: row locks, upserts, batch sizes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam
from sqlalchemy.engine import Dialect

from keyhouse.store.dialect import backend_of
from keyhouse.store.schema import (
    nonces,
)

PURGE_BATCH = 500


def locked(query: Any) -> Any:
    """Hold the selected row until commit. ``FOR NO KEY UPDATE`` on PostgreSQL: it serialises
    quota checks against each other, yet lets foreign-key checks of concurrent inserts (which
    take ``KEY SHARE`` on the parent row) through, so lock orders cannot deadlock on them.
    SQLite ignores it: its write transactions are already serialised by ``BEGIN IMMEDIATE``."""
    return query.with_for_update(key_share=True)


def upsert(dialect: Dialect, table: Any) -> Any:
    """``INSERT`` into ``table`` with ``ON CONFLICT`` clauses, for this backend."""
    return backend_of(dialect).insert(table)


def take_over(dialect: Dialect, table: Any, where: Any) -> Any:
    """``INSERT .. ON CONFLICT (primary key) DO UPDATE .. WHERE <where> RETURNING``.

    Inserts the row, or overwrites the existing one only where ``where`` holds for it; a row
    comes back exactly when the caller now owns it. The same SQL on SQLite and PostgreSQL, and
    the answer does not depend on how a driver reports rowcount for upserts (psycopg: -1).
    Concurrent callers are serialised on the row, so at most one of them wins."""
    stmt = upsert(dialect, table).values({c.name: bindparam(c.name) for c in table.c})
    keys = list(table.primary_key.columns)
    return stmt.on_conflict_do_update(
        index_elements=keys,
        set_={c.name: stmt.excluded[c.name] for c in table.c if not c.primary_key},
        where=where,
    ).returning(*keys)


NOW = bindparam("now", type_=nonces.c.expires_at.type)
