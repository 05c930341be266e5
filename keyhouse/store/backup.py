"""Backups: a consistent copy of a live store in one SQLite file, and its restore into an empty
store.

The backup file is itself a Keyhouse SQLite store, at the schema of the Keyhouse that wrote it:
every row, the sealed secrets as they are and the audit chains with their hashes. The master
key is not in it (keep the two apart): the secrets open, and a restored store serves, only with
the same master keyring.

- From SQLite, SQLite's online backup API copies the file in one step: one read transaction,
  so one consistent snapshot, while the service goes on writing (in WAL mode readers and
  writers do not wait for each other).
- From PostgreSQL, one REPEATABLE READ, READ ONLY transaction reads every table (one snapshot
  of them all) into a new SQLite file.

The file appears under its name only once it is complete (written beside it, then renamed).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Engine, func, select
from sqlalchemy import inspect as sa_inspect

from keyhouse.store.copy import copy_store
from keyhouse.store.engine import make_engine
from keyhouse.store.schema import metadata
from keyhouse.store.sealing import CHAIN_KEY


class BackupError(Exception):
    """The backup or restore cannot be made as asked (the message says why)."""


def backup_store(source: Engine, path: Path) -> dict[str, int]:
    """Write a consistent copy of ``source`` to the new file ``path``; rows per table."""
    if path.exists():
        raise BackupError(f"{path} already exists; a backup never overwrites a file")
    partial = path.with_name(f".{path.name}.partial")
    partial.unlink(missing_ok=True)
    os.close(os.open(partial, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    try:
        if source.dialect.name == "sqlite":
            _sqlite_backup(source, partial)
        else:
            target = make_engine(f"sqlite:///{partial}", pool_size=1)
            try:
                copy_store(source, target, snapshot=True)
            finally:
                target.dispose()
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return counts(path)


def _sqlite_backup(source: Engine, partial: Path) -> None:
    raw = source.raw_connection()
    try:
        driver = raw.driver_connection
        assert isinstance(driver, sqlite3.Connection)
        target = sqlite3.connect(partial)
        try:
            driver.backup(target)  # pages=-1: every page in one step, one snapshot
            target.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        finally:
            target.close()
    finally:
        raw.close()


def counts(path: Path) -> dict[str, int]:
    """Rows per table of the backup file ``path``."""
    engine = make_engine(f"sqlite:///{path}", pool_size=1)
    try:
        with engine.connect() as conn:
            return {
                t.name: int(conn.scalar(select(func.count()).select_from(t)) or 0)
                for t in metadata.sorted_tables
            }
    finally:
        engine.dispose()


@contextlib.contextmanager
def opened(path: Path) -> Iterator[str]:
    """The URL of a private copy of the backup ``path``, to open as a store (opening migrates
    it to this Keyhouse's schema: an older backup is upgraded, the file itself never changed)."""
    if not path.is_file():
        raise BackupError(f"no backup file at {path}")
    with tempfile.TemporaryDirectory(prefix="keyhouse-restore-") as scratch:
        copy = Path(scratch) / "backup.db"
        shutil.copyfile(path, copy)
        try:
            probe = sqlite3.connect(f"file:{copy}?mode=ro", uri=True)
            try:
                found = probe.execute(
                    "SELECT count(*) FROM sqlite_master WHERE name IN (?, ?)",
                    ("alembic_version", "accounts"),
                ).fetchone()[0]
            finally:
                probe.close()
        except sqlite3.DatabaseError as exc:
            raise BackupError(f"{path} is not a Keyhouse backup: {exc}") from exc
        if found != 2:
            raise BackupError(f"{path} is not a Keyhouse backup (no Keyhouse tables in it)")
        yield f"sqlite:///{copy}"


def keyed_trail(url: str) -> bool:
    """Whether the backup at ``url`` (an opened copy) can have its audit chains checked: it
    holds the audit chain key, or no event at all. A backup written before keyed chains
    (revision 0010) holds events but no key: its chains can be recomputed by anyone."""
    engine = make_engine(url, pool_size=1)
    try:
        with engine.connect() as conn:
            tables = set(sa_inspect(conn).get_table_names())
            if "audit_events" not in tables or not conn.scalar(
                select(func.count()).select_from(metadata.tables["audit_events"])
            ):
                return True
            if "store_keys" not in tables:
                return False
            key = metadata.tables["store_keys"]
            return bool(
                conn.scalar(select(func.count()).select_from(key).where(key.c.name == CHAIN_KEY))
            )
    finally:
        engine.dispose()
