"""Opening the master keyring against the store: refuse a missing or wrong key."""

from __future__ import annotations

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
    box = SecretBox(keys)
    for access_key_id, sealed in samples:
        box.open(access_key_id, sealed)  # raises MasterKeyError naming the key id
    return box
