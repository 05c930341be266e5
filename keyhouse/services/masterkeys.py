"""Master-key rotation: re-seal every stored secret under the keyring's sealing key, in short
batches while the service runs, and say when an old key is no longer needed.

The secret itself never changes, only what seals it: a row is opened with its old key and
sealed again with the new one in one short write transaction, compared-and-set on the old key
id (a row purged or re-sealed meanwhile is left alone). Servers follow the key file
(keyhouse.keyring.KeyFileWatch), so they open re-sealed secrets without a restart.
"""

from __future__ import annotations

import base64
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from keyhouse.clock import Clock
from keyhouse.crypto import MasterKeyError, SecretBox
from keyhouse.domain.audit import ChainKey
from keyhouse.store.sealing import CHAIN_KEY, store_key_binding
from keyhouse.store.sql import SqlStore, Tx

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


def open_chain_key(store: SqlStore, box: SecretBox) -> ChainKey:
    """The audit trail's chain key: opened from the store with the keyring, or, the first time
    (a new store, or one written before keyed chains), made, sealed and stored, and every chain
    already in the store checked under its old unkeyed hash and re-keyed, in one transaction.
    Another process doing the same at the same moment loses the insert and takes the winner's.
    """
    binding = store_key_binding(CHAIN_KEY)
    with store.transaction() as tx:  # the usual case: read it, take no write lock
        sealed = tx.get_store_key(CHAIN_KEY)
    if sealed is None:
        with store.transaction(write=True) as tx:
            sealed = tx.get_store_key(CHAIN_KEY)
            if sealed is None:
                material = secrets.token_bytes(32)
                encoded = base64.b64encode(material).decode()
                if tx.insert_store_key(CHAIN_KEY, box.seal(binding, encoded)):
                    key = ChainKey(material)
                    _rekey(tx, key)
                    return key
                sealed = tx.get_store_key(CHAIN_KEY)  # another process stored one first
    if sealed is None:
        raise MasterKeyError("the audit chain key could not be read or stored")
    return ChainKey(base64.b64decode(box.open(binding, sealed)))


def _rekey(tx: Tx, key: ChainKey) -> None:
    rekeyed, broken = tx.rekey_chains(key)
    if rekeyed or broken:
        log.warning(
            "audit chains re-keyed under the new chain key: %d events; chains already broken "
            "before (left broken where they were): %s",
            rekeyed,
            ", ".join(broken) or "none",
        )
