"""Authentication: one indexed read (or none: the cache, on the event loop), a constant-time
HMAC comparison; the single-use nonce is spent when the request commits
(keyhouse.services.committer)."""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from keyhouse.clock import Clock
from keyhouse.crypto import SecretBox
from keyhouse.domain import netpolicy
from keyhouse.domain.errors import DomainError
from keyhouse.domain.model import KeyStatus, Principal
from keyhouse.services.committer import NonceClaim
from keyhouse.store.cache import CacheMiss, current_memory_scope
from keyhouse.store.hot import Credential
from keyhouse.store.sql import SqlStore

# Printable ASCII, as long as the column: anything else cannot be a stored AccessKey ID.
_ACCESS_KEY_ID = re.compile(r"^[\x21-\x7e]{1,32}\Z", re.ASCII)


NONCE_USED = "Specified signature nonce was used already."


class AuthenticationFailed(DomainError):
    """Codes: incomplete, key_not_found, key_inactive, signature_mismatch, timestamp_expired,
    timestamp_format, nonce_used, signature_method, security_token."""

    def __init__(self, reason: str, message: str, **data: str) -> None:
        super().__init__(message, **data)
        self.code = f"auth.{reason}"


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a request came from, as far as we can trust it."""

    address: str
    vpc_id: str | None = None
    secure: bool = False


@dataclass(frozen=True)
class SignedRequest:
    """What a signature scheme extracted from a request, before any secret is known."""

    access_key_id: str
    signature: str
    timestamp: datetime
    nonce: str
    # Given the secret, returns (expected signature, server string-to-sign).
    expected: Callable[[str], tuple[str, str]] = field(repr=False)


class Authenticator:
    def __init__(
        self,
        store: SqlStore,
        box: SecretBox,
        clock: Clock,
        *,
        tolerance: timedelta,
        nonce_window: timedelta,
    ) -> None:
        self.store = store
        self.box = box
        self.clock = clock
        self.tolerance = tolerance
        self.nonce_window = nonce_window

    def authenticate(self, request: SignedRequest, origin: Origin | None = None) -> Principal:
        """The verified caller. ``origin`` is checked against the key's network policy."""
        origin = origin or Origin("")
        now = self.clock.now()
        if not _ACCESS_KEY_ID.match(request.access_key_id):
            raise AuthenticationFailed("key_not_found", "Specified access key is not found.")
        credential = self._credential(request.access_key_id)
        try:
            self._verify(request, credential, origin, now)
        except AuthenticationFailed as failure:
            # The key is known: its refusal belongs to its account's trail.
            failure.data.update(account_id=credential.account_id)
            if credential.user_id:
                failure.data.update(
                    user_id=credential.user_id, user_name=credential.user_name or ""
                )
            raise
        return Principal(
            "root" if credential.user_id is None else "user",
            credential.account_id,
            user_id=credential.user_id,
            user_name=credential.user_name,
            access_key_id=request.access_key_id,
            source_ip=origin.address,
            secure_transport=origin.secure,
            protected=credential.protected,
        )

    def _credential(self, access_key_id: str) -> Credential:
        """From the cache when serving on the event loop (CacheMiss if it is not there), else
        from the store (and then cached)."""
        memory = current_memory_scope()
        if memory is not None:
            cached = self.store.cache.credential(access_key_id)
            if cached is None:
                raise CacheMiss("credential")
            epoch, credential = cached
            memory.depend(credential.account_id, epoch)
            return credential
        found = self.store.hot.credential(access_key_id)
        if found is None:
            raise AuthenticationFailed("key_not_found", "Specified access key is not found.")
        epoch, credential = found
        self.store.cache.record_credential(credential.account_id, epoch, access_key_id, credential)
        return credential

    def _verify(
        self, request: SignedRequest, credential: Credential, origin: Origin, now: datetime
    ) -> None:
        if abs(now - request.timestamp) > self.tolerance:
            raise AuthenticationFailed(
                "timestamp_expired",
                "Specified time stamp or date value is expired (more than 15 minutes off).",
            )
        if credential.in_bin:
            raise AuthenticationFailed("key_not_found", "Specified access key is not found.")
        if credential.status != KeyStatus.ACTIVE.value:
            raise AuthenticationFailed("key_inactive", "Specified access key is disabled.")
        secret = self.box.open(request.access_key_id, credential.sealed)
        expected, string_to_sign = request.expected(secret)
        if not hmac.compare_digest(expected.encode(), request.signature.encode()):
            raise AuthenticationFailed(
                "signature_mismatch",
                "Specified signature is not matched with our calculation. "
                "server string to sign is:" + string_to_sign,
            )
        network = netpolicy.applicable(credential.network_policy, credential.account_network_policy)
        if network is not None and not network.allows(origin.address, origin.vpc_id):
            raise AuthenticationFailed(
                "access_policy_denied", "Specified access key denied due to access policy."
            )

    def nonce_claim(self, request: SignedRequest) -> NonceClaim:
        """The nonce an authenticated request spends. Only a verified request may spend one,
        or anyone could burn other clients' nonces; it is spent when the request's durable
        parts commit (its change's transaction, or its group-commit batch), before it is
        answered: a replay is refused then (``SignatureNonceUsed``)."""
        return NonceClaim(
            request.access_key_id, request.nonce, self.clock.now() + self.nonce_window
        )
