"""The group-commit batch (keyhouse.services.trail.committer): one transaction on a driver
connection of its own, in which many requests' durable writes (keyhouse.store.durable) are
made at once.

The connection is checked out of the store's (durable) engine, so its connect-time settings
apply, and detached from the pool. Errors come out as SQLAlchemy's exception types, so that
``SqlStore.unavailable`` tells an unreachable store from a refused statement as for every
other transaction.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, exc

from keyhouse.domain.audit import ChainKey
from keyhouse.store.dialect import backend_of
from keyhouse.store.durable import DurableWrites, durable_sql

# One batch transaction's writes: keyhouse.store.durable.DurableWrites on the batch's cursor.
BatchTx = DurableWrites


class BatchWriter:
    """Opens batch transactions; used by the committer's one thread only."""

    def __init__(self, engine: Engine, write_lock: Any, chain_key: Callable[[], ChainKey]) -> None:
        self.engine = engine
        self.write_lock = write_lock
        self.chain_key = chain_key  # the store's, read when a batch is chained
        self.backend = backend_of(engine.dialect)
        self.sql = durable_sql(self.backend)
        self._dbapi = engine.dialect.loaded_dbapi
        self._connection: Any = None

    @contextmanager
    def transaction(self) -> Iterator[BatchTx]:
        """One batch: commits on success, rolls back on any exception."""
        begin = self.backend.raw_begin
        with self.write_lock:
            connection = self._connect()
            cursor = connection.cursor()
            try:
                if begin:
                    cursor.execute(begin)
                yield DurableWrites(self.sql, cursor, self.chain_key(), self._dbapi)
                if begin:
                    cursor.execute("COMMIT")
                else:
                    connection.commit()
            except BaseException as error:
                with contextlib.suppress(Exception):
                    if begin:
                        cursor.execute("ROLLBACK")
                    else:
                        connection.rollback()
                reported = error.orig if isinstance(error, exc.DBAPIError) else error
                if isinstance(reported, self._dbapi.OperationalError | self._dbapi.InterfaceError):
                    self.close()  # perhaps dead (a database restart): the next batch reconnects
                if isinstance(error, exc.DBAPIError):
                    raise
                if isinstance(error, self._dbapi.OperationalError | self._dbapi.InterfaceError):
                    raise exc.OperationalError("group-commit batch", None, error) from error
                if isinstance(error, self._dbapi.Error):
                    raise exc.DatabaseError("group-commit batch", None, error) from error
                raise
            finally:
                with contextlib.suppress(Exception):
                    cursor.close()

    def _connect(self) -> Any:
        if self._connection is None:
            fairy = self.engine.raw_connection()
            self._connection = fairy.driver_connection
            fairy.detach()
            if self.backend.raw_begin:
                self._connection.isolation_level = None  # BEGIN and COMMIT are ours
        return self._connection

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.close()
