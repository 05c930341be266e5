"""Copy a whole store into another, empty one (for example SQLite to PostgreSQL).

Sealed secrets are bound to their AccessKey ID, not to the database, so they move as they are
and open with the same master key.
"""

from __future__ import annotations

from sqlalchemy import Engine, func, insert, select

from keyhouse.store.migrate import migrate
from keyhouse.store.schema import metadata

_BATCH = 1000
# Kept by the target's own triggers as the rows above arrive (migration 0007), not copied.
_DERIVED = frozenset({"cache_epochs"})


class TargetNotEmpty(Exception):
    """The target store already holds data; copying would mix two stores."""


def copy_store(source: Engine, target: Engine, *, snapshot: bool = False) -> dict[str, int]:
    """Migrate ``target``, then copy every table in dependency order; returns rows per table.

    ``snapshot``: read every table in one REPEATABLE READ, READ ONLY transaction, so that a
    PostgreSQL store that is serving is copied as it was at one moment (a backup)."""
    migrate(target)
    copied: dict[str, int] = {}
    with source.connect() as src, target.begin() as dst:
        if snapshot and src.dialect.name == "postgresql":
            src.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        for table in metadata.sorted_tables:
            if dst.scalar(select(func.count()).select_from(table)):
                raise TargetNotEmpty(f"the target already has rows in {table.name}")
        for table in metadata.sorted_tables:
            if table.name in _DERIVED:
                continue
            count = 0
            result = src.execution_options(yield_per=_BATCH).execute(select(table))
            for rows in result.partitions(_BATCH):
                dst.execute(insert(table), [dict(r._mapping) for r in rows])
                count += len(rows)
            copied[table.name] = count
    return copied
