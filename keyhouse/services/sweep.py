"""The retention sweep: purge binned keys and users whose DeleteDate has passed.

Idempotent and batched: each batch is its own short transaction, and a DELETE only removes
rows still past their DeleteDate, so several instances sweeping at once purge each row once.
"""

from __future__ import annotations

from datetime import datetime

from keyhouse.clock import Clock
from keyhouse.store.sql import Purged, SqlStore


class Sweeper:
    def __init__(self, store: SqlStore, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    def sweep(self, as_of: datetime | None = None) -> list[Purged]:
        now = as_of or self.clock.now()
        purged: list[Purged] = []
        while True:
            with self.store.transaction(write=True) as tx:
                batch = []
                for user in tx.expired_users(now):
                    keys = tx.purge_user(user.user_id)
                    batch.append(
                        Purged(
                            "user",
                            user.user_id,
                            user.account_id,
                            f"{user.name} (with {len(keys)} AccessKey pairs)",
                        )
                    )
            purged.extend(batch)
            if not batch:
                break
        while True:
            with self.store.transaction(write=True) as tx:
                keys_batch = tx.purge_expired_keys(now)
            purged.extend(keys_batch)
            if not keys_batch:
                break
        self.purge_nonces(now)
        return purged

    def purge_nonces(self, now: datetime | None = None) -> int:
        with self.store.transaction(write=True) as tx:
            return tx.purge_expired_nonces(now or self.clock.now())
