"""Secrets at rest: AES-256-GCM under a master key with a key id, bound to the AccessKey ID.

The AccessKey ID is the authenticated data, so a sealed secret copied onto another key's row
does not open. The key id travels with every sealed value so that the master key can rotate:
the keyring's first key seals, every key in it opens.
"""

from __future__ import annotations

import base64
import os
import secrets
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
    """Seals with the first key of the ring; opens with whichever key sealed."""

    def __init__(self, keys: list[MasterKey]) -> None:
        if not keys:
            raise MasterKeyError("the keyring is empty")
        self._active = keys[0]
        self._ciphers = {k.key_id: AESGCM(k.material) for k in keys}

    def __repr__(self) -> str:
        return f"SecretBox(key_ids={sorted(self._ciphers)})"

    @property
    def key_ids(self) -> frozenset[str]:
        return frozenset(self._ciphers)

    def seal(self, access_key_id: str, secret: str) -> Sealed:
        nonce = os.urandom(_NONCE_BYTES)
        cipher = self._ciphers[self._active.key_id]
        blob = nonce + cipher.encrypt(nonce, secret.encode(), access_key_id.encode())
        return Sealed(self._active.key_id, blob)

    def open(self, access_key_id: str, sealed: Sealed) -> str:
        cipher = self._ciphers.get(sealed.key_id)
        if cipher is None:
            raise MasterKeyError(f"no master key with id {sealed.key_id!r} is configured")
        nonce, body = sealed.blob[:_NONCE_BYTES], sealed.blob[_NONCE_BYTES:]
        try:
            return cipher.decrypt(nonce, body, access_key_id.encode()).decode()
        except InvalidTag as exc:
            raise MasterKeyError(
                f"the master key {sealed.key_id!r} does not open the stored secrets"
            ) from exc


def parse_keyring(text: str) -> list[MasterKey]:
    """Keys separated by newlines or commas; the first one seals new secrets."""
    parts = [p for chunk in text.splitlines() for p in chunk.split(",") if p.strip()]
    return [MasterKey.parse(p) for p in parts]


def read_key_file(path: Path) -> list[MasterKey] | None:
    if not path.exists():
        return None
    return parse_keyring(path.read_text())


def create_key_file(path: Path) -> list[MasterKey]:
    """Write a new master key with mode 0600; never overwrite an existing file."""
    key = MasterKey.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key.encode() + "\n")
    return [key]
