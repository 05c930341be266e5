"""The verification endpoint a gateway asks before it lets a request through (forward auth).

nginx ``auth_request``, Envoy ``ext_authz`` (HTTP) and Traefik ``ForwardAuth`` all send the
client's headers to ``/gateway/verify`` and let the request through on a 2xx; they tell the
original request line in ``X-Forwarded-Method``, ``X-Forwarded-Uri`` and ``X-Forwarded-Host``
(Traefik's names; the nginx block in docs/protect.md sets them; Envoy appends the original
path to the endpoint's). The gateway names the service in ``X-Keyhouse-Service`` and proves
what it is with its own key in ``X-Keyhouse-Gateway: <AccessKeyId>:<AccessKeySecret>`` (Traefik,
which cannot add a header to its question, puts both in the address: ``?Service=..&Gateway=..``).

- Allowed: 200, and headers for the upstream (account, principal ARN and type, AccessKey ID,
  action, resource, request ID), nothing secret.
- Refused: 401 (the signature, the key, the token, the clock, a replay) or 403 (not a gateway,
  no route, a policy), the vendor's envelope as the body and, on one line, in
  ``X-Keyhouse-Error`` (nginx cannot pass an auth subrequest's body on); 503 when the store is
  away, never an allow.

One event per verification in the caller's trail (the service's name, the action, the
resource, the outcome), and the key's last-used date and service: written with its nonce
before the gateway hears the answer. Answered on the event loop when the cache holds what it
needs, else on a worker thread.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote

from keyhouse import ids
from keyhouse.api.errors import BUSY, INTERNAL, Refused, envelope, refusal, vendor_code
from keyhouse.api.wire import WireRequest, parse_query, signed_forwarded
from keyhouse.domain.gateway import READ_METHODS, Match, ServiceDefinition
from keyhouse.domain.model import Principal
from keyhouse.logs import log_request, principal_name
from keyhouse.origin import Origin, OriginResolver
from keyhouse.services.authn import NONCE_USED, AuthenticationFailed
from keyhouse.services.gateway import NOT_A_GATEWAY, NotAGateway, principal_arn
from keyhouse.services.registry import Services
from keyhouse.services.throttle import SourceThrottled
from keyhouse.services.trail.committer import Outcome
from keyhouse.services.trail.draft import EventDraft
from keyhouse.store.cache import CacheMiss, MemoryScope, memory_reads

log = logging.getLogger("keyhouse.request")

PATH = "/gateway/verify"
GATEWAY_HEADER = "x-keyhouse-gateway"
SERVICE_HEADER = "x-keyhouse-service"
ERROR_HEADER = b"x-keyhouse-error"
MAX_URI = 8192
_METHOD = re.compile(r"^[A-Z]{1,16}\Z", re.ASCII)
# What may stand in a header value as it is; anything else is percent-encoded.
_HEADER_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) != "%") + " "

Headers = list[tuple[bytes, bytes]]


@dataclass(slots=True)
class GatewayAnswer:
    status: int
    body: dict[str, Any]
    headers: Headers = field(default_factory=list)


@dataclass(slots=True)
class _Run:
    started: float
    request_id: str
    draft: EventDraft
    host: str
    principal: Principal | None = None
    status: int = 0
    body: dict[str, Any] = field(default_factory=dict)
    headers: Headers = field(default_factory=list)


class GatewayEndpoint:
    def __init__(self, services: Services, origins: OriginResolver) -> None:
        self.services = services
        self.origins = origins

    async def handle_async(
        self,
        check: WireRequest,
        on_thread: Callable[[Callable[[WireRequest], GatewayAnswer], WireRequest], Awaitable[Any]],
    ) -> GatewayAnswer:
        """On the event loop when the cache answers every read (and the committer runs);
        else :meth:`handle` on a worker thread."""
        trail = self.services.audit
        if trail.committer.running:
            scope = MemoryScope(self.services.store.cache)
            run: _Run | None
            try:
                with memory_reads(scope):
                    run = self._run(check)
            except CacheMiss:
                run = None
            if run is not None:
                committed = await trail.finish_async(run.draft, run.status, run.body, scope.depends)
                if committed is Outcome.STALE:
                    for account_id in scope.depends:
                        self.services.store.cache.forget(account_id)
                else:
                    if committed is Outcome.NONCE_USED:
                        self._replayed(run)
                        committed = await trail.finish_async(run.draft, run.status, run.body)
                    self.services.metrics.verifications.labels("loop").inc()
                    return self._sent(run, committed)
        answer: GatewayAnswer = await on_thread(self.handle, check)
        return answer

    def handle(self, check: WireRequest) -> GatewayAnswer:
        self.services.metrics.verifications.labels("thread").inc()
        trail = self.services.audit
        run = self._run(check)
        committed = trail.finish(run.draft, run.status, run.body)
        if committed is Outcome.NONCE_USED:
            self._replayed(run)
            committed = trail.finish(run.draft, run.status, run.body)
        return self._sent(run, committed)

    # -- one verification ---------------------------------------------------------------------
    def _run(self, check: WireRequest) -> _Run:
        started = time.perf_counter()
        request_id = ids.request_id()
        origin = self.origins.resolve(
            check.client, check.headers, check.scheme
        )  # the client, as a trusted gateway vouches
        # Traefik cannot add a header to its question: it may name the service and its key in
        # the endpoint's address instead (?Service=...&Gateway=...). A header wins.
        named = dict(check.query) if check.path == PATH else {}
        service_name = (check.header(SERVICE_HEADER) or named.get("Service") or "")[:64]
        method = (check.header("x-forwarded-method") or check.method).upper()
        uri = check.header("x-forwarded-uri") or check.header("x-original-uri")
        if uri is None:  # Envoy: the original path after the endpoint's
            uri = (check.path[len(PATH) :] or "/") + _query_suffix(check)
        raw_path, _, query = uri[:MAX_URI].partition("?")
        draft = self.services.audit.draft(
            request_id, origin.address, check.header("user-agent") or "", {}
        )
        if draft.record:  # Keyhouse's own names, each bounded: nothing to filter or cut
            draft.parameters = {
                "ServiceName": service_name,
                "Method": method[:16],
                "Path": raw_path[:256],
            }
        draft.action, draft.service = "VerifyRequest", service_name or "keyhouse"
        draft.rw = "Read" if method in READ_METHODS else "Write"
        host = check.header("x-forwarded-host") or check.header("host") or ""
        run = _Run(started, request_id, draft, host)
        try:
            gateway_key = check.header(GATEWAY_HEADER) or named.get("Gateway") or ""
            self._verify(check, run, origin, gateway_key, service_name, method, raw_path, query)
        except CacheMiss:
            raise
        except Exception as exc:
            self._refused(run, exc)
        return run

    def _verify(
        self,
        check: WireRequest,
        run: _Run,
        origin: Origin,
        gateway_key: str,
        service_name: str,
        method: str,
        raw_path: str,
        query: str,
    ) -> None:
        services = self.services
        draft = run.draft
        peer = Origin(check.client, None, check.scheme == "https")
        key_id, colon, secret = gateway_key.partition(":")
        try:
            if not colon or not _METHOD.match(method) or not raw_path.startswith("/"):
                raise NotAGateway(NOT_A_GATEWAY, reason="not a forwarded request")
            _, service = services.gateway.service(key_id, secret, peer, service_name)
        except NotAGateway:
            services.throttle.failed(peer.address, "not_a_gateway")
            raise
        draft.account_id = service.account_id
        services.throttle.check(origin.address)
        forwarded = _forwarded(check, method, raw_path, query, run.host, origin)
        signed = signed_forwarded(forwarded)
        draft.access_key_id = signed.access_key_id[:32]
        try:
            principal = services.authenticator.authenticate(signed, origin)
        except AuthenticationFailed as failure:
            services.metrics.auth_failures.labels(failure.reason).inc()
            services.throttle.failed(origin.address, failure.reason)
            draft.account_id = failure.data.get("account_id", service.account_id)
            draft.user_id = failure.data.get("user_id")
            draft.user_name = failure.data.get("user_name")
            raise
        run.principal = draft.principal = principal
        draft.nonce = services.authenticator.nonce_claim(signed)
        if principal.session is None:
            # A temporary credential has no row to note its use in: the trail has it.
            draft.last_used = (signed.access_key_id, draft.at, service.name)
        signed_action = forwarded.header("x-acs-action")
        match = services.gateway.route(service, method, raw_path, signed_action)
        draft.action = match.name
        if draft.record:
            draft.parameters["Action"] = match.action
            draft.parameters["Resource"] = match.resource
        services.gateway.authorize(principal, service, method, match)
        self._allowed(run, service, match, principal)

    def _allowed(
        self,
        run: _Run,
        service: ServiceDefinition,
        match: Match,
        principal: Principal,
    ) -> None:
        arn, kind = principal_arn(principal)
        run.status = 200
        run.body = {
            "RequestId": run.request_id,
            "ServiceName": service.name,
            "AccountId": principal.account_id,
            "PrincipalArn": arn,
            "IdentityType": kind,
            "AccessKeyId": principal.access_key_id or "",
            "Action": match.action,
            "Resource": match.resource,
        }
        run.headers = [
            (b"x-keyhouse-account-id", _header(principal.account_id)),
            (b"x-keyhouse-principal-arn", _header(arn)),
            (b"x-keyhouse-principal-type", _header(kind)),
            (b"x-keyhouse-access-key-id", _header(principal.access_key_id or "")),
            (b"x-keyhouse-action", _header(match.action)),
            (b"x-keyhouse-resource", _header(match.resource)),
        ]

    def _refused(self, run: _Run, exc: Exception) -> None:
        refused = Refused(run.request_id, run.host, run.principal)
        answer = refusal(exc, refused)
        if answer is None:
            if self.services.store.unavailable(exc):
                self.services.metrics.store_errors.labels("request").inc()
                log.error("verification %s: the store is unavailable", run.request_id)
                answer = 503, envelope(refused, "ServiceUnavailable", BUSY)
            else:
                log.exception("verification %s failed", run.request_id)
                answer = 500, envelope(refused, "InternalError", INTERNAL)
        status, run.body = answer
        if status < 500:
            # What a gateway passes on: 401 to authenticate again, 403 for anything else.
            status = 401 if isinstance(exc, AuthenticationFailed | SourceThrottled) else 403
        run.status = status

    def _replayed(self, run: _Run) -> None:
        run.draft.nonce = None
        failure = AuthenticationFailed("nonce_used", NONCE_USED)
        self.services.metrics.auth_failures.labels(failure.reason).inc()
        code, _ = vendor_code(failure)
        run.status, run.headers = 401, []
        run.body = envelope(Refused(run.request_id, run.host, None), code, failure.message)

    def _sent(self, run: _Run, committed: Outcome) -> GatewayAnswer:
        status, body, headers = run.status, run.body, run.headers
        if committed is not Outcome.COMMITTED:
            status, headers = 503, []
            body = envelope(Refused(run.request_id, run.host, None), "ServiceUnavailable", BUSY)
            self.services.audit.record_later(run.draft, status, body)
        headers = [*headers, (b"x-keyhouse-request-id", run.request_id.encode())]
        if status >= 400:
            line = json.dumps(body, ensure_ascii=True, separators=(",", ":"))
            headers.append((ERROR_HEADER, line.encode()))
        seconds = time.perf_counter() - run.started
        code = body.get("Code", "OK")
        self.services.metrics.answered("gateway:VerifyRequest", code, seconds)
        principal = run.principal
        log_request(
            "gateway",
            run.request_id,
            run.draft.action[:64],
            principal_name(principal),
            principal.access_key_id if principal else run.draft.access_key_id,
            run.draft.source_ip,
            status,
            code,
            seconds,
            service=run.draft.service,
        )
        return GatewayAnswer(status, body, headers)


def _forwarded(
    check: WireRequest,
    method: str,
    raw_path: str,
    query: str,
    host: str,
    origin: Origin,
) -> WireRequest:
    """The client's request, rebuilt: its method, path and query, its headers with its own
    Host (the gateway's credentials left out), no body unless the gateway sent it along."""
    # A copy: the question may be asked again on a worker thread (a cache miss).
    headers = {k: v for k, v in check.headers.items() if k != GATEWAY_HEADER}
    headers["host"] = [host]
    return WireRequest(
        method,
        unquote(raw_path, errors="replace"),
        parse_query(query),
        [],
        headers,
        check.body,
        origin.address,
        "https" if origin.secure else "http",
    )


def _query_suffix(check: WireRequest) -> str:
    if not check.query:
        return ""
    return "?" + "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in check.query)


_PLAIN = re.compile(r"^[\x20-\x24\x26-\x7e]*\Z", re.ASCII)


def _header(text: str) -> bytes:
    if _PLAIN.match(text):  # nearly always: IDs, ARNs, actions
        return text.encode("ascii")
    return quote(text, safe=_HEADER_SAFE).encode("ascii")
