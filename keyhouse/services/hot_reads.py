"""The hot reads' lane: GetCallerIdentity and ListAccessKeys (IMS and RAM) in one pass.

Most of what a signed client sends is these two reads. The general path answers every action
the same way: an ambient draft made current for the use-cases to annotate, a generic run that
maps each kind of refusal to its answer, the route's parameter schema, a use-case layer that
opens a (memory) transaction. For an allowed hot read none of that is needed, so the lane is
one straight function: the caller authenticated from the cache, the action's use-case run on
the cache (:meth:`Accounts.caller`, :meth:`Keys.list_live`: the same functions every surface
calls for these actions), the reply and the event's draft built once, in that order.

The lane answers only what it can answer as the general path would: an allowed request whose
every read the cache holds. Anything else (a refusal of any kind, a throttled source, a
parameter the schema refuses, a miss) it leaves as it found it, with nothing counted, noted
or recorded, and the general path answers it: refusals keep one implementation. The lanes'
equivalence (same reply bytes, same event rows, for every kind of principal and outcome) is
tested in tests/integration/test_lanes.py.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from keyhouse import ids
from keyhouse.domain.actions import Action
from keyhouse.domain.audit import service_name
from keyhouse.domain.errors import DomainError
from keyhouse.domain.model import Principal
from keyhouse.origin import Origin
from keyhouse.services.authn import AuthenticationFailed, Authenticator, SignedRequest
from keyhouse.services.throttle import SourceThrottle
from keyhouse.services.trail.draft import EventDraft
from keyhouse.services.trail.writer import AuditWriter
from keyhouse.store.cache import CacheMiss, MemoryScope, ReadCache, memory_reads

# The routed actions the lane answers.
HOT_ACTIONS = frozenset({Action.GetCallerIdentity, Action.ListAccessKeys})


@dataclass(frozen=True, slots=True)
class HotCall:
    """A hot read as the wire read it."""

    action: str  # as the client named it (the event's eventName)
    version: str
    service: str  # the route's product: "sts", "ims" or "ram" (the last-used service)
    origin: Origin
    user_agent: str
    params: Mapping[str, str]  # every parameter received (the event keeps what it may)


@dataclass(slots=True)
class HotAnswer:
    """An allowed hot read: its reply, and its event's draft (committed before it is sent)."""

    principal: Principal
    body: dict[str, Any]
    draft: EventDraft
    depends: dict[str, int]  # the cache epochs the answer was read under, by account


class HotReads:
    def __init__(
        self,
        authenticator: Authenticator,
        audit: AuditWriter,
        cache: ReadCache,
        throttle: SourceThrottle,
    ) -> None:
        self.authenticator = authenticator
        self.audit = audit
        self.cache = cache
        self.throttle = throttle

    def serve(
        self,
        signed: SignedRequest,
        call: HotCall,
        answer: Callable[[Principal], dict[str, Any]],
    ) -> HotAnswer | None:
        """``answer`` (the action's use-case, given the caller) for an allowed request read
        from the cache; None when the general path must answer it (nothing was noted)."""
        scope = MemoryScope(self.cache)
        try:
            self.throttle.check(call.origin.address)
            with memory_reads(scope):
                principal = self.authenticator.authenticate(signed, call.origin)
                body = answer(principal)
        except (AuthenticationFailed, DomainError, CacheMiss):
            return None
        request_id = ids.request_id()  # only for a request the lane answers
        draft = self.audit.draft(request_id, call.origin.address, call.user_agent, call.params)
        draft.action, draft.version = call.action, call.version
        draft.service = service_name(call.service)
        draft.access_key_id = signed.access_key_id[:32]
        draft.principal = principal
        draft.nonce = self.authenticator.nonce_claim(signed)
        if principal.session is None:
            # A temporary credential has no row to note its use in: the trail has it.
            draft.last_used = (signed.access_key_id, draft.at, call.service)
        body["RequestId"] = request_id
        return HotAnswer(principal, body, draft, scope.depends)
