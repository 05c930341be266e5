"""The SQLite write-ahead log is started over once it is long and fully copied: under a steady
load some reader always holds it, and PASSIVE checkpoints alone let it grow without end."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from keyhouse.store import sql
from keyhouse.store.engine import make_engine
from keyhouse.store.sql import SqlStore


def _frames(store: SqlStore) -> int:
    """How many pages the write-ahead log holds now."""
    with store.engine.connect() as conn:
        return int(conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()[1])


def _write(store: SqlStore, rows: int) -> None:
    for _ in range(rows):
        with store.engine.begin() as conn:
            conn.execute(text("INSERT INTO t VALUES (:v)"), {"v": "x" * 4000})


def test_a_long_copied_log_is_started_over_and_a_short_one_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SqlStore(make_engine(f"sqlite:///{tmp_path / 'k.db'}"))
    wal = tmp_path / "k.db-wal"
    try:
        with store.engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (v TEXT)"))
        _write(store, 50)
        monkeypatch.setattr(sql, "WAL_RESTART_FRAMES", 10_000)
        reader = sqlite3.connect(tmp_path / "k.db", isolation_level=None)
        try:  # a reader holds the log, as under load
            reader.execute("BEGIN")
            reader.execute("SELECT count(*) FROM t").fetchone()
            store.checkpoint()
            _write(store, 1)
            assert _frames(store) > 50  # short: copied, and the next write went on at its end
        finally:
            reader.close()
        monkeypatch.setattr(sql, "WAL_RESTART_FRAMES", 10)
        store.checkpoint()
        size = wal.stat().st_size
        assert size > 100_000  # long and copied: not truncated (its sync stalled writers)...
        _write(store, 5)
        assert _frames(store) < 20  # ...but started over by the next writes
        assert wal.stat().st_size == size  # and written over, not grown
        with store.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 56
            assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 30_000
    finally:
        store.dispose()
