"""Secrets at rest: AES-256-GCM under a master key with a key id, bound to the AccessKey ID.

The AccessKey ID is the authenticated data, so a sealed secret copied onto another key's row
does not open. The key id travels with every sealed value so that the master key can rotate:
the keyring's first key seals, every key in it opens.
"""

from __future__ import annotations

import base64
import os
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_NONCE_BYTES = 12


class MasterKeyError(Exception):
    """The master key is missing, malformed, or does not open the store's secrets."""


@dataclass(frozen=True)
class MasterKey:
    key_id: str
    material: bytes = field(repr=False)

    def encode(self) -> str:
        return f"{self.key_id}:{base64.urlsafe_b64encode(self.material).decode()}"

    @classmethod
    def generate(cls) -> MasterKey:
        return cls(secrets.token_hex(4), AESGCM.generate_key(bit_length=256))

    @classmethod
    def parse(cls, text: str) -> MasterKey:
        key_id, sep, encoded = text.strip().partition(":")
        try:
            material = base64.urlsafe_b64decode(encoded.encode())
        except ValueError as exc:
            raise MasterKeyError("a master key must be <key id>:<base64 of 32 bytes>") from exc
        if not sep or not key_id or len(material) != 32:
            raise MasterKeyError("a master key must be <key id>:<base64 of 32 bytes>")
        return cls(key_id, material)


@dataclass(frozen=True)
class Sealed:
    key_id: str
    blob: bytes = field(repr=False)


class SecretBox:
    """Seals with the first key of the ring; opens with whichever key sealed.

    A keyring read from a file follows the file: ``reload`` (set by keyhouse.keyring) returns
    the file's keys when it changed, and the box takes them, on a timer and whenever a secret
    sealed under a key it does not know turns up (re-sealed by ``keyhouse master-key rotate``
    a moment before this process saw the new file).
    """

    def __init__(
        self, keys: list[MasterKey], reload: Callable[[], list[MasterKey] | None] | None = None
    ) -> None:
        self._ring = _ring(keys)
        self._reload = reload
        self._reloading = threading.Lock()

    def __repr__(self) -> str:
        return f"SecretBox(key_ids={sorted(self._ring[1])})"

    @property
    def key_ids(self) -> frozenset[str]:
        return frozenset(self._ring[1])

    def knows(self, key_id: str) -> bool:
        """Whether ``key_id`` is in the ring (a dictionary look-up: fit for every request)."""
        return key_id in self._ring[1]

    @property
    def sealing_key_id(self) -> str:
        return self._ring[0].key_id

    def refresh(self) -> bool:
        """Take the keyring's file again if it changed; True when the keys changed."""
        if self._reload is None:
            return False
        with self._reloading:
            keys = self._reload()
            if not keys:
                return False
            self._ring = _ring(keys)  # one reference swapped: readers see old or new
            return True

    def seal(self, access_key_id: str, secret: str) -> Sealed:
        active, ciphers = self._ring
        nonce = os.urandom(_NONCE_BYTES)
        blob = nonce + ciphers[active.key_id].encrypt(
            nonce, secret.encode(), access_key_id.encode()
        )
        return Sealed(active.key_id, blob)

    def open(self, access_key_id: str, sealed: Sealed) -> str:
        cipher = self._ring[1].get(sealed.key_id)
        if cipher is None and self.refresh():
            cipher = self._ring[1].get(sealed.key_id)
        if cipher is None:
            raise MasterKeyError(f"no master key with id {sealed.key_id!r} is configured")
        nonce, body = sealed.blob[:_NONCE_BYTES], sealed.blob[_NONCE_BYTES:]
        try:
            return cipher.decrypt(nonce, body, access_key_id.encode()).decode()
        except InvalidTag as exc:
            raise MasterKeyError(
                f"the master key {sealed.key_id!r} does not open the stored secrets"
            ) from exc


def _ring(keys: list[MasterKey]) -> tuple[MasterKey, dict[str, AESGCM]]:
    if not keys:
        raise MasterKeyError("the keyring is empty")
    return keys[0], {k.key_id: AESGCM(k.material) for k in keys}


def parse_keyring(text: str) -> list[MasterKey]:
    """Keys separated by newlines or commas; the first one seals new secrets."""
    parts = [p for chunk in text.splitlines() for p in chunk.split(",") if p.strip()]
    return [MasterKey.parse(p) for p in parts]


def read_key_file(path: Path) -> list[MasterKey] | None:
    if not path.exists():
        return None
    return parse_keyring(path.read_text())


def write_key_file(path: Path, keys: list[MasterKey]) -> None:
    """Replace the key file with ``keys`` at once (mode 0600): a reader sees the old file or
    the new one, never a part."""
    if not keys:
        raise MasterKeyError("the keyring is empty")
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write("".join(k.encode() + "\n" for k in keys))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def create_key_file(path: Path) -> list[MasterKey]:
    """Write a new master key with mode 0600; never overwrite an existing file."""
    key = MasterKey.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key.encode() + "\n")
    return [key]
