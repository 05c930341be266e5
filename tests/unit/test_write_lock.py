"""The SQLite write lock: writers of every process take turns, and a turn never held for ever."""

from __future__ import annotations

import fcntl
import os
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from keyhouse.store.engine import SqliteWriteLock
from keyhouse.store.sql import SqlStore


def _hold(path: Path) -> int:
    """Take the lock file the way another process would (a flock is per open file)."""
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def test_a_writer_waits_its_turn_and_takes_it_once_released(tmp_path: Path) -> None:
    lock = SqliteWriteLock(tmp_path / "k.db", timeout=5)
    fd = _hold(lock.path)
    taken = threading.Event()

    def write() -> None:
        with lock:
            taken.set()

    writer = threading.Thread(target=write)
    writer.start()
    assert not taken.wait(0.2)
    released = time.monotonic()
    os.close(fd)
    assert taken.wait(5)
    assert time.monotonic() - released < 0.1
    writer.join()


def test_a_lock_held_past_the_timeout_makes_the_store_unavailable(tmp_path: Path) -> None:
    lock = SqliteWriteLock(tmp_path / "k.db", timeout=0.3)
    fd = _hold(lock.path)
    try:
        started = time.monotonic()
        with pytest.raises(OperationalError) as raised, lock:
            pass
        assert 0.3 <= time.monotonic() - started < 2
        assert SqlStore.unavailable(raised.value)
    finally:
        os.close(fd)
    with lock:  # the failed try left nothing held
        pass


def test_threads_of_one_process_time_out_too(tmp_path: Path) -> None:
    lock = SqliteWriteLock(tmp_path / "k.db", timeout=0.2)
    inside = threading.Event()
    leave = threading.Event()

    def hold() -> None:
        with lock:
            inside.set()
            leave.wait(5)

    holder = threading.Thread(target=hold)
    holder.start()
    assert inside.wait(5)
    try:
        with pytest.raises(OperationalError), lock:
            pass
    finally:
        leave.set()
        holder.join()


def test_a_turn_taken_after_its_writer_gave_up_is_handed_back(tmp_path: Path) -> None:
    lock = SqliteWriteLock(tmp_path / "k.db", timeout=0.2)
    fd = _hold(lock.path)
    with pytest.raises(OperationalError), lock:
        pass
    os.close(fd)  # the helper still waiting in the kernel takes the lock now, and gives it back
    other = os.open(lock.path, os.O_RDWR)
    try:
        deadline = time.monotonic() + 5
        while True:
            try:
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                assert time.monotonic() < deadline, "the abandoned turn was never released"
                time.sleep(0.01)
        fcntl.flock(other, fcntl.LOCK_UN)
    finally:
        os.close(other)
    with lock:
        pass
