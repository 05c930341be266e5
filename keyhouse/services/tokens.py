"""Temporary credentials: minted by STS AssumeRole (keyhouse.services.sts), opened by the
authenticator (keyhouse.services.authn).

A temporary credential is an AccessKey ID (``STS.`` and 24 letters and digits), its secret, and
a security token that carries the whole session, sealed (AES-256-GCM under the master keyring,
bound to the AccessKey ID): the role, the session, when it expires, the session policy, who
assumed it, and the secret itself. Nothing is stored: verifying a request signed with it opens
the token (no store read) and checks the role's current state through the same caches as keys
(keyhouse.services.authn), so deleting the role ends its sessions on the very next request,
and a policy detached from it stops counting at once.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from keyhouse.crypto import MasterKeyError, Sealed, SecretBox
from keyhouse.domain.errors import DomainError
from keyhouse.domain.model import RoleSession

STS_PREFIX = "STS."
RETIRED = (
    "Specified SecurityToken is expired: the master key that sealed it has been retired "
    "(keyhouse master-key retire --force)."
)
MAX_TOKEN = 8192
_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_TOKEN = re.compile(
    r"^v1\.([A-Za-z0-9_-]{1,64})\.([0-9a-f]{1,32})\.([A-Za-z0-9_-]{16,8000})\Z", re.ASCII
)


class TokenRefused(DomainError):
    """A security token that does not stand: codes ``auth.token_missing``, ``.token_malformed``,
    ``.token_mismatch``, ``.token_expired``."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.code = f"auth.token_{reason}"


@dataclass(frozen=True, slots=True)
class Minted:
    access_key_id: str
    secret: str
    token: str
    session: RoleSession
    account_id: str  # the role's
    key_id: str  # the master key that sealed the token


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _aad(access_key_id: str) -> str:
    return "sts-session:" + access_key_id  # never a stored key's ID: a sealed secret won't open


def mint(box: SecretBox, account_id: str, session: RoleSession) -> Minted:
    access_key_id = STS_PREFIX + "".join(secrets.choice(_ALNUM) for _ in range(24))
    secret = "".join(secrets.choice(_ALNUM) for _ in range(40))
    body = {
        "a": account_id,
        "r": session.role_id,
        "rn": session.role_name,
        "s": session.name,
        "e": int(session.expires_at.timestamp()),
        "p": session.policy,
        "sa": session.source_account_id,
        "sn": session.source_name,
        "sk": session.source_kind,
        "sak": session.source_access_key_id,
        "k": secret,
    }
    sealed = box.seal(_aad(access_key_id), json.dumps(body, separators=(",", ":")))
    token = f"v1.{_b64(access_key_id.encode())}.{sealed.key_id}.{_b64(sealed.blob)}"
    return Minted(access_key_id, secret, token, session, account_id, sealed.key_id)


def open_token(
    box: SecretBox, access_key_id: str, token: str, now: datetime
) -> tuple[str, RoleSession, str]:
    """(the role's account, the session, the secret) the token carries for this AccessKey ID.

    A token sealed under a master key that has been retired is refused as expired, also when it
    was opened (and kept) before: ``keyhouse master-key retire --force`` ends such sessions on
    every server as soon as it sees the key file without the key (within a second)."""
    account_id, session, secret, key_id = _opened(box, access_key_id, token)
    if not box.knows(key_id):
        raise TokenRefused("expired", RETIRED)
    if now >= session.expires_at:
        raise TokenRefused("expired", "Specified SecurityToken is expired.")
    return account_id, session, secret


# A session's requests bring the same token each time: it is opened once (AES-GCM and JSON),
# then found here. Bounded; only tokens that opened are kept (a refusal raises, uncached).
@functools.lru_cache(maxsize=4096)
def _opened(box: SecretBox, access_key_id: str, token: str) -> tuple[str, RoleSession, str, str]:
    found = _TOKEN.match(token) if len(token) <= MAX_TOKEN else None
    if found is None:
        raise TokenRefused("malformed", "Specified SecurityToken is malformed.")
    try:
        named = _unb64(found[1]).decode()
        blob = _unb64(found[3])
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise TokenRefused("malformed", "Specified SecurityToken is malformed.") from None
    if named != access_key_id:
        raise TokenRefused("mismatch", "Specified SecurityToken mismatch with the AccessKey.")
    if not box.knows(found[2]):
        box.refresh()  # a key this process has not seen yet, or one that was retired
        if not box.knows(found[2]):
            raise TokenRefused("expired", RETIRED)
    try:
        body = json.loads(box.open(_aad(access_key_id), Sealed(found[2], blob)))
        session = RoleSession(
            role_id=str(body["r"]),
            role_name=str(body["rn"]),
            name=str(body["s"]),
            expires_at=datetime.fromtimestamp(int(body["e"]), UTC),
            policy=body["p"],
            source_account_id=str(body["sa"]),
            source_name=str(body["sn"]),
            source_kind=str(body["sk"]),
            source_access_key_id=str(body["sak"]),
        )
        account_id, secret = str(body["a"]), str(body["k"])
    except (MasterKeyError, ValueError, KeyError, TypeError):
        raise TokenRefused("malformed", "Specified SecurityToken is malformed.") from None
    return account_id, session, secret, found[2]
