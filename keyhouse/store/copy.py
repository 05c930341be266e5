"""Copy a whole store into another, empty one (for example SQLite to PostgreSQL).

Sealed secrets are bound to their AccessKey ID, not to the database, so they move as they are
and open with the same master key.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import Engine, func, insert, select

from keyhouse.store.migrate import migrate
from keyhouse.store.schema import metadata

_BATCH = 1000
# Kept by the target's own triggers as the rows above arrive (migration 0007), not copied.
_DERIVED = frozenset({"cache_epochs"})


class TargetNotEmpty(Exception):
    """The target store already holds data; copying would mix two stores."""


Row = dict[str, Any]


def ensure_empty(target: Engine) -> None:
    """Migrate ``target`` and raise TargetNotEmpty if any of its tables holds a row."""
    migrate(target)
    with target.connect() as conn:
        _refuse_rows(conn)


def _refuse_rows(conn: Any) -> None:
    for table in metadata.sorted_tables:
        if conn.scalar(select(func.count()).select_from(table)):
            raise TargetNotEmpty(f"the target already has rows in {table.name}")


def copy_store(
    source: Engine,
    target: Engine,
    *,
    snapshot: bool = False,
    skip: frozenset[str] = frozenset(),
    rewrite: Mapping[str, Callable[[Row], Row]] | None = None,
) -> dict[str, int]:
    """Migrate ``target``, then copy every table in dependency order; returns rows per table.

    ``snapshot``: read every table in one REPEATABLE READ, READ ONLY transaction, so that a
    PostgreSQL store that is serving is copied as it was at one moment (a backup). ``skip``:
    tables not copied; ``rewrite``: per table, what each row becomes on the way."""
    migrate(target)
    copied: dict[str, int] = {}
    with source.connect() as src, target.begin() as dst:
        if snapshot and src.dialect.name == "postgresql":
            src.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        _refuse_rows(dst)
        for table in metadata.sorted_tables:
            if table.name in _DERIVED or table.name in skip:
                continue
            change = (rewrite or {}).get(table.name)
            count = 0
            result = src.execution_options(yield_per=_BATCH).execute(select(table))
            for rows in result.partitions(_BATCH):
                values = [dict(r._mapping) for r in rows]
                if change is not None:
                    values = [change(v) for v in values]
                dst.execute(insert(table), values)
                count += len(rows)
            copied[table.name] = count
    return copied
