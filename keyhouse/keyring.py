"""Opening the master keyring against the store: refuse a missing or wrong key."""

from __future__ import annotations

import base64
import logging
import secrets
from pathlib import Path

from keyhouse.config import Settings
from keyhouse.crypto import (
    MasterKey,
    MasterKeyError,
    SecretBox,
    create_key_file,
    parse_keyring,
    read_key_file,
)
from keyhouse.domain.audit import ChainKey
from keyhouse.store.sealing import store_key_binding
from keyhouse.store.sql import SqlStore

log = logging.getLogger("keyhouse.keyring")


def open_keyring(settings: Settings, store: SqlStore) -> SecretBox:
    """The keyring from KEYHOUSE_MASTER_KEY or the key file, checked against stored secrets.

    A key file is created (mode 0600) only while the store holds no secret: creating one for a
    store that already has secrets would hide the real problem, a lost key.
    """
    samples = store.sealed_samples()
    path = settings.key_file_path()
    keys: list[MasterKey] | None
    if settings.master_key:
        keys = parse_keyring(settings.master_key)
        if not keys:
            raise MasterKeyError("KEYHOUSE_MASTER_KEY is empty")
    else:
        keys = read_key_file(path)
    if keys is None:
        if samples:
            raise MasterKeyError(
                f"the store holds AccessKey secrets but there is no master key: set "
                f"KEYHOUSE_MASTER_KEY or put the key file back at {path}"
            )
        try:
            keys = create_key_file(path)
        except FileExistsError:  # another instance created it a moment ago
            keys = read_key_file(path) or []
    box = SecretBox(keys, None if settings.master_key else KeyFileWatch(path))
    for access_key_id, sealed in samples:
        box.open(access_key_id, sealed)  # raises MasterKeyError naming the key id
    return box


CHAIN_KEY = "audit-chain"


def open_chain_key(store: SqlStore, box: SecretBox) -> ChainKey:
    """The audit trail's chain key: opened from the store with the keyring, or, the first time
    (a new store, or one written before keyed chains), made, sealed and stored, and every chain
    already in the store checked under its old unkeyed hash and re-keyed, in one transaction.
    Another process doing the same at the same moment loses the insert and takes the winner's.
    """
    binding = store_key_binding(CHAIN_KEY)
    for _ in range(3):
        with store.transaction(write=True) as tx:
            sealed = tx.get_store_key(CHAIN_KEY)
            if sealed is None:
                material = secrets.token_bytes(32)
                encoded = base64.b64encode(material).decode()
                if not tx.insert_store_key(CHAIN_KEY, box.seal(binding, encoded)):
                    continue  # another process stored one first: take it
                key = ChainKey(material)
                rekeyed, broken = tx.rekey_chains(key)
                if rekeyed or broken:
                    log.warning(
                        "audit chains re-keyed under the new chain key: %d events; chains "
                        "already broken before (left broken where they were): %s",
                        rekeyed,
                        ", ".join(broken) or "none",
                    )
                return key
        return ChainKey(base64.b64decode(box.open(binding, sealed)))
    raise MasterKeyError("the audit chain key could not be read or stored")


class KeyFileWatch:
    """The key file's keys each time it changed since the last look (None otherwise): what
    a running server's keyring follows, so that ``keyhouse master-key rotate`` needs no
    restart. A look is one ``stat``; the file is read only when it changed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen = self._stamp()

    def _stamp(self) -> tuple[int, int, int] | None:
        try:
            found = self.path.stat()
        except OSError:
            return None
        return found.st_ino, found.st_mtime_ns, found.st_size

    def __call__(self) -> list[MasterKey] | None:
        stamp = self._stamp()
        if stamp is None or stamp == self._seen:
            return None
        # Taken as seen before it is read: a file that cannot be read is reported once, not
        # every second (and not on every request naming a key id this process does not know).
        self._seen = stamp
        try:
            keys = read_key_file(self.path)
        except (OSError, MasterKeyError) as exc:
            log.error("the master key file %s cannot be read (%s); keys kept", self.path, exc)
            return None
        if keys:
            log.info(
                "master keyring reloaded from %s: %s (sealing with %s)",
                self.path,
                ", ".join(k.key_id for k in keys),
                keys[0].key_id,
            )
        return keys
