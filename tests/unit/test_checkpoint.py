"""The SQLite write-ahead log is started over once it is long and fully copied: under a steady
load some reader always holds it, and PASSIVE checkpoints alone let it grow without end."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from keyhouse.store import sql
from keyhouse.store.engine import make_engine
from keyhouse.store.sql import SqlStore


def test_a_long_copied_log_is_truncated_and_a_short_one_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SqlStore(make_engine(f"sqlite:///{tmp_path / 'k.db'}"))
    wal = tmp_path / "k.db-wal"
    try:
        with store.engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (v TEXT)"))
        for _ in range(50):
            with store.engine.begin() as conn:
                conn.execute(text("INSERT INTO t VALUES (:v)"), {"v": "x" * 4000})
        monkeypatch.setattr(sql, "WAL_RESTART_FRAMES", 10_000)
        store.checkpoint()
        assert wal.stat().st_size > 100_000  # short: copied, kept as it is
        monkeypatch.setattr(sql, "WAL_RESTART_FRAMES", 10)
        store.checkpoint()
        assert wal.stat().st_size == 0  # long and copied: started over
        with store.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 50
            assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 30_000
    finally:
        store.dispose()
