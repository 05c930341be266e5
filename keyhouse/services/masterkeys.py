"""Master-key rotation: re-seal every stored secret under the keyring's sealing key, in short
batches while the service runs, and say when an old key is no longer needed.

The secret itself never changes, only what seals it: a row is opened with its old key and
sealed again with the new one in one short write transaction, compared-and-set on the old key
id (a row purged or re-sealed meanwhile is left alone). Servers follow the key file
(keyhouse.keyring.KeyFileWatch), so they open re-sealed secrets without a restart.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from keyhouse.clock import Clock
from keyhouse.crypto import SecretBox
from keyhouse.store.sql import SqlStore

log = logging.getLogger("keyhouse.keyring")

BATCH = 200


@dataclass(frozen=True)
class Resealed:
    resealed: int
    batches: int
    remaining: dict[str, int]  # key id -> secrets still sealed under it (all keys)


class MasterKeys:
    def __init__(self, store: SqlStore, box: SecretBox, clock: Clock) -> None:
        self.store = store
        self.box = box
        self.clock = clock

    def live_sessions(self) -> dict[str, tuple[int, datetime]]:
        """Per master key id: temporary credentials it sealed that have not expired, and when
        the last of them does."""
        with self.store.transaction() as tx:
            return tx.live_sts_sessions(self.clock.now())

    def counts(self) -> dict[str, int]:
        with self.store.transaction() as tx:
            return tx.sealed_counts()

    def reseal(
        self,
        batch: int = BATCH,
        pause: float = 0.0,
        progress: Callable[[int], None] | None = None,
    ) -> Resealed:
        """Re-seal, batch by batch, every secret not sealed under the sealing key, until none
        is left (new pairs sealed by a server that had not seen the new key yet included)."""
        key_id = self.box.sealing_key_id
        total = batches = 0
        while True:
            with self.store.transaction(write=True) as tx:
                found = tx.sealed_other_than(key_id, batch)
                for table, row, access_key_id, sealed in found:
                    secret = self.box.open(access_key_id, sealed)
                    if tx.reseal(table, row, sealed.key_id, self.box.seal(access_key_id, secret)):
                        total += 1
            if not found:
                break
            batches += 1
            if progress is not None:
                progress(total)
            if pause:
                time.sleep(pause)  # let the service's own writers take their turns
        log.info("re-sealed %d secrets under master key %s", total, key_id)
        return Resealed(total, batches, self.counts())
