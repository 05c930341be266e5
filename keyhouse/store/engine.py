"""Engines for SQLite (WAL, real transactions) and PostgreSQL (psycopg 3)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from keyhouse.domain.errors import InvalidValue

# Connections tagged with this execution option begin with BEGIN IMMEDIATE on SQLite, so that
# a check-then-write (key quotas, bin caps) is serialised against other writers.
WRITE_OPTION = "keyhouse_write"

# How long a writer waits for its turn on a SQLite file, in seconds (SQLite's busy timeout,
# and the write lock in front of it), before the store counts as unavailable.
BUSY_TIMEOUT = 30


def make_engine(url: str, pool_size: int = 16) -> Engine:
    """An engine for ``url``."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database:
            _create_private(Path(parsed.database))
        engine = create_engine(
            url,
            pool_size=pool_size,
            max_overflow=pool_size,
            connect_args={"timeout": BUSY_TIMEOUT},
        )
        _sqlite_recipe(engine)
        return engine
    # No pool_pre_ping: it costs a round trip on every checkout (two per request). After a
    # database restart the first statement on a dead connection fails, SQLAlchemy sees the
    # disconnect and invalidates the whole pool, so one request fails instead of all paying.
    engine = create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_recycle=3600,
    )
    event.listen(engine, "before_cursor_execute", _refuse_nul)
    return engine


def _refuse_nul(
    _conn: Any, _cursor: Any, _statement: str, parameters: Any, _context: Any, many: bool
) -> None:
    """PostgreSQL text cannot hold NUL: a value with one (a name in a console address, say)
    is a clear InvalidValue instead of the driver's ValueError, which would be a 500. SQLite
    stores it, and it matches nothing, since names with control characters are never valid."""
    for row in parameters if many else [parameters]:
        values = row.values() if isinstance(row, dict) else row or ()
        for value in values:
            if isinstance(value, str) and "\0" in value:
                raise InvalidValue("Value", "NUL characters are not allowed.")


def _create_private(path: Path) -> None:
    """Create the SQLite file readable by its owner only (it holds sealed secrets and the
    trail); SQLite gives the -wal and -shm files it makes beside it the same mode."""
    if path.exists():
        return
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))


def _busy(path: Path) -> OperationalError:
    held = TimeoutError(f"{path} is held by another writer")
    return OperationalError("SQLite write lock", None, held)


class SqliteWriteLock:
    """One writer at a time across every Keyhouse process and thread on a SQLite file.

    SQLite's own busy handler makes a waiting writer sleep 1, 2, 5, 10… up to 100 ms between
    tries, so a second process (a ``--workers`` sibling, ``keyhouse purge``) turned every
    collision into tens or hundreds of milliseconds of latency. An exclusive ``flock`` on a
    file beside the database hands the turn over as soon as it is released; a thread lock
    in front keeps this process's threads in turn (a flock is held per open file, not per
    thread). Locks held by a process die with it."""

    def __init__(self, database: Path, timeout: float = BUSY_TIMEOUT) -> None:
        self.path = database.with_name(database.name + ".lock")
        self.timeout = timeout
        self._threads = threading.Lock()
        self._fd: int | None = None
        self._pid = -1
        self._state = threading.Lock()
        self._wait: _Wait | None = None

    def __enter__(self) -> None:
        # Bounded like SQLite's own busy timeout: a process stopped while it holds the lock
        # (SIGSTOP, a debugger) makes writers here fail as "store unavailable" (a 503)
        # instead of parking them for as long as it stays stopped.
        deadline = time.monotonic() + self.timeout
        if not self._threads.acquire(timeout=self.timeout):
            raise _busy(self.path)
        try:
            self._flock(deadline)
        except BaseException:
            self._threads.release()
            raise

    def _flock(self, deadline: float) -> None:
        """Take the file lock. Contended, the blocking ``flock`` (the kernel hands the lock
        over the moment it is released; polling would lose every turn to a process that
        writes back to back, such as ``keyhouse purge``) runs on a helper thread, so that
        this one can give up at the deadline. A lock the helper takes after its writer gave
        up goes to the next writer, or is released when none is waiting."""
        fd = self._file()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        with self._state:
            wait = self._wait
            if wait is None:
                wait = self._wait = _Wait()
                threading.Thread(target=self._take, args=(fd, wait), daemon=True).start()
            wait.wanted = True
        taken = wait.done.wait(max(deadline - time.monotonic(), 0))
        with self._state:
            if taken or wait.done.is_set():
                self._wait = None
                return
            wait.wanted = False
        raise _busy(self.path)

    def _take(self, fd: int, wait: _Wait) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with self._state:
            if wait.wanted:
                wait.done.set()
                return
            self._wait = None
        fcntl.flock(fd, fcntl.LOCK_UN)

    def __exit__(self, *_: object) -> None:
        try:
            if self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._threads.release()

    def _file(self) -> int:
        if self._fd is None or self._pid != os.getpid():
            self._fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600)
            self._pid = os.getpid()
            self._state = threading.Lock()  # a forked child has no helper thread
            self._wait = None
        return self._fd


class _Wait:
    """One blocking ``flock`` under way on a helper thread, and whether a writer still wants it."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.wanted = False


def store_exists(url: str) -> bool:
    """Whether ``url`` names a store Keyhouse has already created (without creating one)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        return bool(database) and Path(str(database)).is_file()
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return inspect(conn).has_table("alembic_version")
    finally:
        engine.dispose()


def _sqlite_recipe(engine: Engine) -> None:
    """SQLAlchemy's documented recipe: let SQLAlchemy, not pysqlite, emit BEGIN."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # No connection checkpoints the WAL when its commit crosses 1,000 pages (that commit
        # would wait for the copy and its fsync: the tail latency of every request in its
        # batch). A serving process checkpoints from a thread of its own instead
        # (SqlStore.checkpoint); a command's connection checkpoints when it closes.
        cursor.execute("PRAGMA wal_autocheckpoint=0")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT * 1000}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        options = conn.get_execution_options()
        conn.exec_driver_sql("BEGIN IMMEDIATE" if options.get(WRITE_OPTION) else "BEGIN")
