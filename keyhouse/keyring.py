"""Opening the master keyring against the store: refuse a missing or wrong key."""

from __future__ import annotations

import logging
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
