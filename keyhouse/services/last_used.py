"""Last-used recording, coalesced in memory and flushed on an interval.

Writing on every authenticated request would turn reads into writes; instead each key's latest
use is kept in memory and written at most once per flush interval (default one second), well
inside the five seconds within which it must be visible.
"""

from __future__ import annotations

import threading
from datetime import datetime

from keyhouse.store.sql import SqlStore


class LastUsedRecorder:
    def __init__(self, store: SqlStore) -> None:
        self._store = store
        self._pending: dict[str, tuple[datetime, str]] = {}
        self._lock = threading.Lock()

    def note(self, access_key_id: str, at: datetime, service: str) -> None:
        with self._lock:
            seen = self._pending.get(access_key_id)
            if seen is None or seen[0] <= at:
                self._pending[access_key_id] = (at, service)

    def flush(self) -> int:
        """Write what is pending; on failure it is kept for the next flush."""
        with self._lock:
            pending, self._pending = self._pending, {}
        if not pending:
            return 0
        try:
            with self._store.transaction(write=True, relaxed=True) as tx:
                tx.record_last_used([(k, at, svc) for k, (at, svc) in pending.items()])
        except Exception:
            for key, (at, svc) in pending.items():
                self.note(key, at, svc)
            raise
        return len(pending)
