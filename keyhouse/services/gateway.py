"""A gateway's question about one request to a protected service: may it pass?

Three steps, in this order (keyhouse.api.gateway runs them, with the signature check between
the first and the last):

1. :meth:`Gateway.service`: the caller of the verification endpoint is a configured gateway:
   its own AccessKey, active, from an address its network policy allows, with
   ``keyhouse:VerifyRequest`` on the service. Nobody else learns anything, so the endpoint is
   neither a signature oracle nor a way to spend other people's nonces.
2. The client's signature, exactly as Keyhouse checks its own requests
   (keyhouse.services.authn): time window, key state, STS token, network policy.
3. :meth:`Gateway.authorize`: the route the request takes gives the action and resource;
   leak protection refuses a write; the caller's policies (and session policy) decide.

All three read through the store's transactions, so on the event loop they are answered from
the cache (CacheMiss: the request runs on a worker thread instead).
"""

from __future__ import annotations

import hashlib
import hmac
from time import monotonic

from keyhouse.clock import Clock
from keyhouse.crypto import SecretBox
from keyhouse.domain import gateway
from keyhouse.domain.actions import Action, Level, Permission, Scope
from keyhouse.domain.arn import root_arn, service_resource, user_arn
from keyhouse.domain.errors import DomainError, NotFound, PermissionDenied
from keyhouse.domain.gateway import Match, NoRoute, ServiceDefinition
from keyhouse.domain.model import KeyStatus, Principal
from keyhouse.origin import Origin
from keyhouse.services.authn import AuthenticationFailed, Authenticator
from keyhouse.services.authz import Authorizer
from keyhouse.services.base import UseCases
from keyhouse.store.cache import current_memory_scope
from keyhouse.store.sql import SqlStore

STANDING_SECONDS = 1
STANDING_LIMIT = 1024
NOT_A_GATEWAY = "The caller of the verification endpoint is not a configured gateway."


class NotAGateway(DomainError):
    code = "gateway.not_configured"


class RouteRefused(DomainError):
    code = "gateway.no_route"


class LeakageRisk(DomainError):
    code = "auth.leakage_risk"


LEAKAGE = (
    "There is a risk of leakage of this AccessKey: it is under restrictive protection, and "
    "write operations with it are refused. Read operations still work."
)


def principal_arn(principal: Principal) -> tuple[str, str]:
    """(ARN, identity type) as GetCallerIdentity says them."""
    if principal.session is not None:
        return principal.session.arn(principal.account_id), "AssumedRoleUser"
    if principal.kind == "user":
        return user_arn(principal.account_id, principal.user_name or ""), "RAMUser"
    return root_arn(principal.account_id), "Account"


class Gateway(UseCases):
    def __init__(
        self,
        store: SqlStore,
        clock: Clock,
        authorizer: Authorizer,
        box: SecretBox,
        authenticator: Authenticator,
    ) -> None:
        super().__init__(store, clock, authorizer, box)
        self.authenticator = authenticator
        # (key, secret digest, peer, service) -> (epoch, when, gateway, service): see service()
        self._standing: dict[
            tuple[str, bytes, Origin, str], tuple[int, float, Principal, ServiceDefinition]
        ] = {}

    def service(
        self, access_key_id: str, secret: str, peer: Origin, name: str
    ) -> tuple[Principal, ServiceDefinition]:
        """The gateway's principal and the service it asks about; NotAGateway for anyone
        who is not a gateway allowed to verify requests to that service.

        On the event loop a gateway's standing, once checked, is reused while its account's
        cache epoch stays where it was (a change to its key, its user, its policies, the
        service or the account moves it: the answer is then stale at commit, and checked
        again) and for at most :data:`STANDING_SECONDS` (a policy condition on the time is
        evaluated at least that often). Kept on the event loop only, by a digest of the
        secret (never the secret), for :data:`STANDING_LIMIT` gateways at most."""
        memory = current_memory_scope()
        known = (access_key_id, hashlib.sha256(secret.encode()).digest(), peer, name)
        if memory is not None:
            standing = self._standing.get(known)
            if standing is not None:
                epoch, since, principal, service = standing
                cached = self.store.cache.credential(access_key_id)
                if (
                    cached is not None
                    and cached[0] == epoch
                    and monotonic() - since < STANDING_SECONDS
                ):
                    memory.depend(principal.account_id, epoch)
                    return principal, service
        gateway_principal, found = self._service(access_key_id, secret, peer, name)
        if memory is not None and gateway_principal.account_id in memory.depends:
            if len(self._standing) >= STANDING_LIMIT:
                self._standing.clear()
            epoch = memory.depends[gateway_principal.account_id]
            self._standing[known] = (epoch, monotonic(), gateway_principal, found)
        return gateway_principal, found

    def _service(
        self, access_key_id: str, secret: str, peer: Origin, name: str
    ) -> tuple[Principal, ServiceDefinition]:
        gateway_principal = self._gateway(access_key_id, secret, peer)
        try:
            gateway.validate_service_name(name, "X-Keyhouse-Service")
        except DomainError:
            raise NotAGateway(NOT_A_GATEWAY, reason="no such service") from None
        with self.store.transaction() as tx:
            account = tx.get_account(gateway_principal.account_id)
            if account is None:
                raise NotAGateway(NOT_A_GATEWAY, reason="no account")
            try:
                self._authorize(
                    tx,
                    gateway_principal,
                    account,
                    Action.VerifyRequest,
                    service_resource(account.account_id, name),
                )
            except PermissionDenied:
                raise NotAGateway(NOT_A_GATEWAY, reason="no keyhouse:VerifyRequest") from None
            found = tx.get_service(account.account_id, name)
        if found is None:
            raise NotFound("service", f"The service does not exist: {name}.")
        return gateway_principal, found

    def _gateway(self, access_key_id: str, secret: str, peer: Origin) -> Principal:
        """The gateway's own key: a long-term key (not temporary), active, its secret as
        stored (constant-time comparison), from an address its network policy allows."""
        try:
            credential = self.authenticator.credential(access_key_id)
        except AuthenticationFailed:
            raise NotAGateway(NOT_A_GATEWAY, reason="unknown key") from None
        if credential.in_bin or credential.status != KeyStatus.ACTIVE.value:
            raise NotAGateway(NOT_A_GATEWAY, reason="inactive key")
        stored = self.box.open(access_key_id, credential.sealed)
        if not hmac.compare_digest(stored.encode(), secret.encode()):
            raise NotAGateway(NOT_A_GATEWAY, reason="wrong secret")
        if not self.authenticator.network_allows(credential, peer):
            raise NotAGateway(NOT_A_GATEWAY, reason="network policy")
        return Principal(
            "root" if credential.user_id is None else "user",
            credential.account_id,
            user_id=credential.user_id,
            user_name=credential.user_name,
            access_key_id=access_key_id,
            source_ip=peer.address,
            secure_transport=peer.secure,
        )

    @staticmethod
    def route(
        service: ServiceDefinition, method: str, path: str, signed_action: str | None
    ) -> Match:
        """The route ``method`` and ``path`` take (RouteRefused when none does)."""
        try:
            return service.match(method, path, signed_action)
        except NoRoute as refused:
            raise RouteRefused(str(refused)) from None

    def authorize(
        self, principal: Principal, service: ServiceDefinition, method: str, match: Match
    ) -> None:
        """PermissionDenied unless the caller may perform the route's action on its resource
        (and LeakageRisk for a write with a key under leak protection)."""
        writes = method not in gateway.READ_METHODS
        if principal.protected and writes:
            raise LeakageRisk(LEAKAGE)
        permission = Permission(match.action, Level.WRITE if writes else Level.READ, Scope.SERVICE)
        with self.store.transaction() as tx:
            account = tx.get_account(service.account_id)
            if account is None:
                raise NotFound("account", "The account does not exist.")
            decision = self.authorizer.decide_permission(
                principal,
                permission,
                account.account_id,
                match.resource,
                grants=lambda: self._grants(tx, principal, account),
            )
        if not decision.allowed:
            raise PermissionDenied(
                "You are not authorized to do this action.",
                action=match.action,
                reason=decision.reason,
                effect=decision.effect.value,
            )
