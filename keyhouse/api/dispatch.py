"""One request in, one (status, JSON object) out: route, authenticate, parse, call, render."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from keyhouse import ids
from keyhouse.api.errors import BUSY, INTERNAL, Refused, envelope, refusal, vendor_code
from keyhouse.api.params import WireError, parse_all
from keyhouse.api.routes import Route
from keyhouse.api.wire import WireRequest, signed_request
from keyhouse.domain.actions import PERMISSIONS, Level
from keyhouse.domain.audit import service_name as audit_service_name
from keyhouse.domain.errors import DomainError
from keyhouse.domain.model import Principal
from keyhouse.logs import log_request, principal_name
from keyhouse.origin import Origin, OriginResolver
from keyhouse.services.authn import NONCE_USED, AuthenticationFailed
from keyhouse.services.hot_reads import HOT_ACTIONS, HotCall
from keyhouse.services.registry import Services
from keyhouse.services.throttle import SourceThrottled
from keyhouse.services.trail.committer import Outcome
from keyhouse.services.trail.draft import EventDraft
from keyhouse.store.cache import CacheMiss, MemoryScope, memory_reads

log = logging.getLogger("keyhouse.request")

Answer = tuple[int, dict[str, Any]]


@dataclass
class _Outcome:
    """What is known about a request for its log line, however far it got."""

    action: str | None = None
    route: str | None = None  # the routed action (``action`` is what the client wrote)
    principal: Principal | None = None


@dataclass
class _Run:
    """One request being answered: its answer so far, its draft event, its log line's facts."""

    started: float
    request_id: str
    draft: EventDraft
    outcome: _Outcome = field(default_factory=_Outcome)
    status: int = 0
    body: dict[str, Any] = field(default_factory=dict)


class KeyProtected(DomainError):
    code = "auth.leakage_risk"


_LEAKAGE = (
    "There is a risk of leakage of this AccessKey: it is under restrictive protection, and "
    "write operations with it are refused. Read operations still work. Create a new pair for "
    "this identity and stop using this one; an operator lifts the protection with "
    "`keyhouse key unprotect`."
)


class Dispatcher:
    def __init__(
        self,
        services: Services,
        routes: dict[tuple[str, str], Route],
        origins: OriginResolver | None = None,
        *,
        hot_lane: bool = True,
    ) -> None:
        self.services = services
        self.routes = routes
        self.origins = origins or OriginResolver(())
        self.hot_lane = hot_lane  # off: only to measure the lane and test the lanes agree
        unmapped = sorted({a for _, a in routes} - set(PERMISSIONS))
        if unmapped:
            raise ValueError(f"routed actions without a permission entry: {unmapped}")

    async def handle_async(
        self,
        req: WireRequest,
        on_thread: Callable[[Callable[[WireRequest], Answer], WireRequest], Awaitable[Answer]],
    ) -> Answer:
        """Answer on the event loop when the cache can: the hot reads (HOT_ACTIONS, the most
        frequent reads, none of which shows a last-used note: the lane answers the allowed
        ones, the general path on the cache the others), with the
        group committer running. Anything else, and any request the cache cannot answer after
        all (a miss, or an entry found stale when its batch committed), runs :meth:`handle`
        through ``on_thread``, against the store."""
        entry = self._from_memory(req)
        if entry is not None and self.services.audit.committer.running:
            answered = await self._handle_from_memory(req, entry)
            if answered is not None:
                return answered
        return await on_thread(self.handle, req)

    def _from_memory(self, req: WireRequest) -> Route | None:
        try:
            action, version = req.action_version()
        except Exception:
            return None
        entry = self.routes.get((version or "", action or ""))
        return entry if entry is not None and entry.action in HOT_ACTIONS else None

    async def _handle_from_memory(self, req: WireRequest, entry: Route) -> Answer | None:
        """The hot lane, else the general path on the cache. None: the cache could not
        answer after all (run the request on a thread)."""
        trail = self.services.audit
        found = self._hot(req, entry) if self.hot_lane else None
        if found is None:
            scope = MemoryScope(self.services.store.cache)
            try:
                with memory_reads(scope):
                    found = self._run(req), scope.depends
            except CacheMiss:
                return None
        run, depends = found
        committed = await trail.finish_async(run.draft, run.status, run.body, depends)
        if committed is Outcome.STALE:
            for account_id in depends:
                self.services.store.cache.forget(account_id)
            return None
        if committed is Outcome.NONCE_USED:
            self._replayed(req, run)
            committed = await trail.finish_async(run.draft, run.status, run.body)
        return self._sent(req, run, committed)

    def _hot(self, req: WireRequest, entry: Route) -> tuple[_Run, dict[str, int]] | None:
        """An allowed hot read answered by the lane (keyhouse.services.hot_reads); None for
        the general path (nothing of the request was noted)."""
        started = time.perf_counter()
        try:
            signed = signed_request(req)
            params = parse_all(entry.params, req.params())
        except (AuthenticationFailed, WireError):
            return None
        action, version = req.action_version()
        origin = self.origins.resolve(req.client, req.headers, req.scheme)
        call = HotCall(
            action or "",
            version or "",
            entry.service,
            origin,
            req.header("user-agent") or "",
            req.params(),
        )
        services = self.services
        answered = services.hot_reads.serve(
            signed, call, lambda who: entry.handler(services, who, params)
        )
        if answered is None:
            return None
        draft = answered.draft
        run = _Run(started, draft.request_id, draft, status=200, body=answered.body)
        run.outcome.action, run.outcome.route = action, entry.action
        run.outcome.principal = answered.principal
        return run, answered.depends

    def handle(self, req: WireRequest) -> Answer:
        """Answer one request; leave one audit event and one log line (never its parameters)."""
        trail = self.services.audit
        run = self._run(req)
        committed = trail.finish(run.draft, run.status, run.body)
        if committed is Outcome.NONCE_USED:
            self._replayed(req, run)
            committed = trail.finish(run.draft, run.status, run.body)
        return self._sent(req, run, committed)

    def _run(self, req: WireRequest) -> _Run:
        """Authenticate, authorize and answer ``req``, its audit draft current meanwhile;
        nothing of it is committed yet."""
        started = time.perf_counter()
        origin = self.origins.resolve(req.client, req.headers, req.scheme)
        request_id = ids.request_id()
        trail = self.services.audit
        draft, token = trail.begin(
            request_id, origin.address, req.header("user-agent") or "", req.params()
        )
        run = _Run(started, request_id, draft)
        try:
            run.status, run.body = self._answer(req, run.outcome, request_id, origin, draft)
        finally:
            trail.end(token)
        return run

    def _replayed(self, req: WireRequest, run: _Run) -> None:
        """A replay: nothing of its answer leaves; its refusal is what the trail records."""
        run.draft.nonce = None
        failure = AuthenticationFailed("nonce_used", NONCE_USED)
        self.services.metrics.auth_failures.labels(failure.reason).inc()
        code, run.status = vendor_code(failure)
        run.body = self._envelope(req, run.request_id, code, failure.message)

    def _sent(self, req: WireRequest, run: _Run, committed: Outcome) -> Answer:
        """The answer that leaves, once its durable parts committed (503 if they could not),
        and its log line."""
        status, body = run.status, run.body
        if committed is not Outcome.COMMITTED:
            status, body = 503, self._envelope(req, run.request_id, "ServiceUnavailable", BUSY)
            self.services.audit.record_later(run.draft, status, body)
        seconds = time.perf_counter() - run.started
        code = body.get("Code", "OK")
        self.services.metrics.answered(run.outcome.route or "-", code, seconds)
        principal = run.outcome.principal
        log_request(
            "api",
            run.request_id,
            run.outcome.route or (run.outcome.action or "-")[:64],
            principal_name(principal),
            principal.access_key_id if principal else run.draft.access_key_id,
            run.draft.source_ip,
            status,
            code,
            seconds,
        )
        return status, body

    def _answer(
        self,
        req: WireRequest,
        outcome: _Outcome,
        request_id: str,
        origin: Origin,
        draft: EventDraft,
    ) -> tuple[int, dict[str, Any]]:
        try:
            action, version = req.action_version()
            outcome.action = action
            draft.action, draft.version = action or "", version or ""
            entry = self.routes.get((version or "", action or ""))
            if entry is None:
                raise WireError(
                    "InvalidAction.NotFound",
                    404,
                    f"Specified api {action or '(none)'} is not found for version "
                    f"{version or '(none)'}.",
                )
            outcome.route = entry.action
            draft.service = audit_service_name(entry.service)
            if PERMISSIONS[entry.action].level is Level.WRITE:
                draft.rw = "Write"
            try:
                self.services.throttle.check(origin.address)
            except SourceThrottled:
                self.services.metrics.throttled.inc()
                raise
            signed = signed_request(req)
            draft.access_key_id = signed.access_key_id[:32]
            try:
                outcome.principal = self.services.authenticator.authenticate(signed, origin)
            except AuthenticationFailed as failure:
                self.services.metrics.auth_failures.labels(failure.reason).inc()
                self.services.throttle.failed(origin.address, failure.reason)
                draft.account_id = failure.data.get("account_id", "")
                draft.user_id = failure.data.get("user_id")
                draft.user_name = failure.data.get("user_name")
                raise
            draft.principal = outcome.principal
            draft.nonce = self.services.authenticator.nonce_claim(signed)
            if outcome.principal.session is None:
                # A temporary credential has no row to note its use in: the trail has it.
                draft.last_used = (signed.access_key_id, draft.at, entry.service)
            if outcome.principal.protected and PERMISSIONS[entry.action].level is Level.WRITE:
                raise KeyProtected(_LEAKAGE)
            params = parse_all(entry.params, req.params())
            result = entry.handler(self.services, outcome.principal, params)
            result["RequestId"] = request_id
            return 200, result
        except CacheMiss:
            raise
        except Exception as exc:
            refused = Refused(request_id, req.header("host") or "", outcome.principal)
            answer = refusal(exc, refused)
            if answer is not None:
                return answer
            if self.services.store.unavailable(exc):
                # The store is away (or its pool exhausted): try again later, as for a commit.
                self.services.metrics.store_errors.labels("request").inc()
                name = type(exc).__name__
                log.error("request %s: the store is unavailable: %s", request_id, name)
                return 503, envelope(refused, "ServiceUnavailable", BUSY)
            log.exception("request %s failed", request_id)
            return 500, envelope(refused, "InternalError", INTERNAL)

    @staticmethod
    def _envelope(req: WireRequest, request_id: str, code: str, message: str) -> dict[str, Any]:
        return envelope(Refused(request_id, req.header("host") or "", None), code, message)
