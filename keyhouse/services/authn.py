"""Authentication: one indexed read (or none: the cache, on the event loop), a constant-time
HMAC comparison; the single-use nonce is spent when the request commits
(keyhouse.services.trail.committer)."""

from __future__ import annotations

import dataclasses
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
from keyhouse.origin import Origin
from keyhouse.services import tokens
from keyhouse.services.tokens import STS_PREFIX
from keyhouse.store.cache import CacheMiss, current_memory_scope
from keyhouse.store.hot import Credential, RoleState
from keyhouse.store.sql import SqlStore

# Printable ASCII, as long as the column: anything else cannot be a stored AccessKey ID.
_ACCESS_KEY_ID = re.compile(r"^[\x21-\x7e]{1,32}\Z", re.ASCII)


NONCE_USED = "Specified signature nonce was used already."


class AuthenticationFailed(DomainError):
    """Codes: incomplete, key_not_found, key_inactive, signature_mismatch, timestamp_expired,
    timestamp_format, nonce_used, signature_method, security_token."""

    def __init__(self, reason: str, message: str, **data: str) -> None:
        super().__init__(message, **data)
        self.reason = reason
        self.code = f"auth.{reason}"


@dataclass(frozen=True, slots=True)
class NonceClaim:
    """A request's nonce, to be spent once (with the request's durable parts: its event and
    the key's last-used note) and remembered until its timestamp leaves the window."""

    access_key_id: str
    nonce: str
    expires_at: datetime


@dataclass(frozen=True)
class SignedRequest:
    """What a signature scheme extracted from a request, before any secret is known."""

    access_key_id: str
    signature: str
    timestamp: datetime
    nonce: str
    # Given the secret, returns (expected signature, server string-to-sign).
    expected: Callable[[str], tuple[str, str]] = field(repr=False)
    # A temporary credential's token (signed with the request), if one was sent.
    security_token: str | None = field(default=None, repr=False)


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
        if request.access_key_id.startswith(STS_PREFIX):
            return self._temporary(request, origin, now)
        if request.security_token is not None:
            raise AuthenticationFailed(
                "token_mismatch", "Specified SecurityToken mismatch with the AccessKey."
            )
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

    def _temporary(self, request: SignedRequest, origin: Origin, now: datetime) -> Principal:
        """A request signed with a temporary credential: its token opened (no store read),
        its role checked as it is now (the cache, else one indexed read), then the signature."""
        if not request.security_token:
            raise AuthenticationFailed(
                "token_missing", "SecurityToken is mandatory for this action."
            )
        try:
            account_id, session, secret = tokens.open_token(
                self.box, request.access_key_id, request.security_token, now
            )
        except tokens.TokenRefused as refused:
            raise AuthenticationFailed(
                refused.code.removeprefix("auth."), refused.message
            ) from None
        role = self._role(session.role_id)
        if role is None or role.account_id != account_id:
            raise AuthenticationFailed(
                "token_malformed", "Specified SecurityToken is invalid: its role no longer exists."
            )
        try:
            self._check(request, secret, role.account_network_policy, None, origin, now)
        except AuthenticationFailed as failure:
            failure.data.update(account_id=account_id)
            raise
        return Principal(
            "assumed-role",
            account_id,
            access_key_id=request.access_key_id,
            source_ip=origin.address,
            secure_transport=origin.secure,
            session=dataclasses.replace(session, role_name=role.name),
        )

    def _role(self, role_id: str) -> RoleState | None:
        """A role's current state: from the cache on the event loop (CacheMiss if it is not
        there), else from the store (and then cached). Keyed apart from AccessKey IDs."""
        key = "role:" + role_id
        memory = current_memory_scope()
        if memory is not None:
            cached = self.store.cache.credential(key)
            if cached is None or not isinstance(cached[1], RoleState):
                raise CacheMiss("role")
            memory.depend(cached[1].account_id, cached[0])
            return cached[1]
        found = self.store.hot.role(role_id)
        if found is None:
            return None
        epoch, state = found
        self.store.cache.record_credential(state.account_id, epoch, key, state)
        return state

    def credential(self, access_key_id: str) -> Credential:
        """A long-term key's credential (a gateway's own key: keyhouse.services.gateway)."""
        if not _ACCESS_KEY_ID.match(access_key_id) or access_key_id.startswith(STS_PREFIX):
            raise AuthenticationFailed("key_not_found", "Specified access key is not found.")
        return self._credential(access_key_id)

    @staticmethod
    def network_allows(credential: Credential, origin: Origin) -> bool:
        """Whether the key's network access policy (or its account's) lets ``origin`` use it."""
        network = netpolicy.applicable(credential.network_policy, credential.account_network_policy)
        return network is None or network.allows(origin.address, origin.vpc_id)

    def _credential(self, access_key_id: str) -> Credential:
        """From the cache when serving on the event loop (CacheMiss if it is not there), else
        from the store (and then cached)."""
        memory = current_memory_scope()
        if memory is not None:
            cached = self.store.cache.credential(access_key_id)
            if cached is None:
                raise CacheMiss("credential")
            epoch, credential = cached
            if not isinstance(credential, Credential):
                raise CacheMiss("credential")
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
        self._check(
            request,
            secret,
            credential.account_network_policy,
            credential.network_policy,
            origin,
            now,
            checked_time=True,
        )

    def _check(
        self,
        request: SignedRequest,
        secret: str,
        account_policy: str | None,
        key_policy: str | None,
        origin: Origin,
        now: datetime,
        *,
        checked_time: bool = False,
    ) -> None:
        """The timestamp, the signature with ``secret``, and the network access policy."""
        if not checked_time and abs(now - request.timestamp) > self.tolerance:
            raise AuthenticationFailed(
                "timestamp_expired",
                "Specified time stamp or date value is expired (more than 15 minutes off).",
            )
        expected, string_to_sign = request.expected(secret)
        if not hmac.compare_digest(expected.encode(), request.signature.encode()):
            raise AuthenticationFailed(
                "signature_mismatch",
                "Specified signature is not matched with our calculation. "
                "server string to sign is:" + string_to_sign,
            )
        network = netpolicy.applicable(key_policy, account_policy)
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
