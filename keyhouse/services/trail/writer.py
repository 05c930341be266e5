"""The audit trail: one event per request, written before the request is answered.

- The event of a successful change is written inside the change's own transaction (the store
  calls :meth:`AuditWriter.before_commit` just before a write transaction commits), with the
  request's nonce: if either cannot be written, the change rolls back and the caller gets an
  error.
- Every other request's event (reads, refusals) and its nonce go to the group committer
  (keyhouse.services.trail.committer): many requests' in one transaction, committed before any of
  them is answered, so that nothing answered is lost to a crash.
- Requests refused before anyone was authenticated cost the store a bounded amount: each
  source address has a budget of events per minute; beyond it, its refusals are counted and
  recorded as one summary event per source and minute.
- Each account's events form a hash chain (keyhouse.domain.audit); ``verify`` walks it.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from contextvars import Token
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from keyhouse import ids
from keyhouse.clock import Clock, format_date
from keyhouse.domain import audit
from keyhouse.services.authn import NONCE_USED, AuthenticationFailed
from keyhouse.services.trail.committer import GroupCommitter, Item, Outcome
from keyhouse.services.trail.draft import CURRENT, EventDraft, build_row
from keyhouse.store.sql import Tx

log = logging.getLogger("keyhouse.audit")


@dataclass
class _SourceBudget:
    """One source's refusals before authentication in the current minute."""

    window: datetime
    stored: int = 0
    over: int = 0  # refused beyond the budget: counted, not stored one by one
    codes: dict[str, int] = field(default_factory=dict)
    actions: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TrailHealth:
    writable: bool  # the last batch committed (or none was needed)
    queued: int
    set_aside: int  # events that could not be stored at all, since start
    summarized: int  # refusals counted in summary events instead of stored one by one
    batches: int  # group-commit batches written since start
    items: int  # requests' durable parts (and other events) in them


class AuditWriter:
    """Records each request's event (and spends its nonce): in the change's own transaction,
    or through the group committer, before the request is answered."""

    # Refusals before authentication that one source may have stored per minute.
    SOURCE_BUDGET = 60
    # Sources tracked at once; beyond that, new sources share one budget ("*").
    MAX_SOURCES = 10_000

    def __init__(self, committer: GroupCommitter, clock: Clock, *, enabled: bool = True) -> None:
        self.enabled = enabled
        self.committer = committer
        self.clock = clock
        self._budgets: dict[str, _SourceBudget] = {}
        self._budget_lock = threading.Lock()
        self._summarized = 0
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    # -- one request ------------------------------------------------------------------------
    def begin(
        self, request_id: str, source_ip: str, user_agent: str, params: Mapping[str, str]
    ) -> tuple[EventDraft, Token[EventDraft | None]]:
        """A request's draft, current (for :func:`annotate`) until :meth:`end`."""
        draft = self.draft(request_id, source_ip, user_agent, params)
        return draft, CURRENT.set(draft)

    def draft(
        self, request_id: str, source_ip: str, user_agent: str, params: Mapping[str, str]
    ) -> EventDraft:
        """A request's draft (of nothing but its nonce, with the trail off)."""
        if not self.enabled:
            return EventDraft("", self.clock.now(), request_id, source_ip, "", {}, record=False)
        parameters, truncated = audit.request_parameters(params)
        return EventDraft(
            event_id=ids.event_id(),
            at=self.clock.now(),
            request_id=request_id,
            source_ip=source_ip,
            user_agent=user_agent[:256],
            parameters=parameters,
            truncated=truncated,
        )

    @staticmethod
    def end(token: Token[EventDraft | None]) -> None:
        CURRENT.reset(token)

    def before_commit(self, tx: Tx) -> None:
        """The store's hook: a successful change's event and its request's nonce, in the
        change's own transaction (a replayed change is refused, and rolled back, here)."""
        draft = CURRENT.get()
        if draft is None or draft.written or draft.rw != "Write" or draft.principal is None:
            return
        claim = draft.nonce
        if claim is not None:
            claimed = tx.claim_nonces(
                [(claim.access_key_id, claim.nonce, claim.expires_at)], self.clock.now()
            )
            if not claimed:
                draft.nonce = None  # spent by another request: nothing left to claim
                raise AuthenticationFailed("nonce_used", NONCE_USED)
        if draft.last_used is not None:
            tx.record_last_used([draft.last_used])
        if draft.record:
            account_id, row = build_row(draft, None, None, draft.annotations)
            tx.append_events(account_id, [row])
        draft.written = True

    def finish(self, draft: EventDraft, status: int, body: Mapping[str, Any]) -> Outcome:
        """After the reply is known and before it is sent: commit the request's event and
        spend its nonce (unless its change did both). Anything but COMMITTED means the
        reply must not be sent (NONCE_USED: a replay; else 503)."""
        item = self._item(draft, status, body)
        if item is None:
            return Outcome.COMMITTED
        return self._committed(draft, self.committer.commit(item))

    async def finish_async(
        self,
        draft: EventDraft,
        status: int,
        body: Mapping[str, Any],
        depends: dict[str, int] | None = None,
    ) -> Outcome:
        """:meth:`finish` on the event loop, for a reply read from the cache under the epochs
        ``depends`` (STALE: they moved; the reply must not be sent, the request runs again)."""
        item = self._item(draft, status, body)
        if item is None:
            if not depends:
                return Outcome.COMMITTED
            item = Item()  # nothing to write, but the answer must still be checked
        item.depends = depends or None
        return self._committed(draft, await self.committer.commit_async(item))

    @staticmethod
    def _committed(draft: EventDraft, outcome: Outcome) -> Outcome:
        if outcome is Outcome.COMMITTED:
            draft.written = True
        return outcome

    def _item(self, draft: EventDraft, status: int, body: Mapping[str, Any]) -> Item | None:
        """What the committer must write for the request (None: nothing)."""
        if draft.written or (not draft.record and draft.nonce is None):
            return None
        row = None
        if draft.record:
            if status >= 400:
                code = str(body.get("Code"))
                if draft.principal is None and not self._within_budget(draft, code):
                    return None  # counted in its source's summary event
                account_id, row = build_row(draft, code, str(body.get("Message")), None)
            else:
                account_id, row = build_row(draft, None, None, draft.annotations or None)
        else:
            account_id = ""
        return Item(account_id, row, draft.nonce, last_used=draft.last_used)

    def record_later(self, draft: EventDraft, status: int, body: Mapping[str, Any]) -> None:
        """The event of a reply that went out without waiting for it: the 503 of a request
        whose durable parts could not be written (written when the store takes it)."""
        if draft.record:
            account_id, row = build_row(
                draft, str(body.get("Code")), str(body.get("Message")), None
            )
            self.committer.later(Item(account_id, row, None))

    def _within_budget(self, draft: EventDraft, code: str) -> bool:
        """Count a refusal before authentication against its source's budget for the minute;
        True while it may still be stored as an event of its own."""
        window = draft.at.replace(second=0, microsecond=0)
        with self._budget_lock:
            source = draft.source_ip
            if source not in self._budgets and len(self._budgets) >= self.MAX_SOURCES:
                source = "*"
            budget = self._budgets.get(source)
            if budget is None or budget.window != window:
                if budget is not None:
                    self._summarize(source, budget)
                budget = self._budgets[source] = _SourceBudget(window)
            if budget.stored < self.SOURCE_BUDGET:
                budget.stored += 1
                return True
            budget.over += 1
            self._summarized += 1
            for counts, name in ((budget.codes, code), (budget.actions, draft.action)):
                name = audit.storable(name, 64)
                if name in counts or len(counts) < 20:
                    counts[name] = counts.get(name, 0) + 1
            return False

    def _summarize(self, source: str, budget: _SourceBudget) -> None:
        """Queue the summary event of a finished minute (called with the budget lock held)."""
        if not budget.over:
            return
        draft = EventDraft(
            event_id=ids.event_id(),
            at=budget.window + timedelta(minutes=1),
            request_id="",
            source_ip=source,
            user_agent="keyhouse",
            parameters={
                "Refused": str(budget.over),
                "WindowStart": format_date(budget.window),
                "ErrorCodes": json.dumps(budget.codes, sort_keys=True),
                "Actions": json.dumps(budget.actions, sort_keys=True),
            },
            action="UnauthenticatedRequestsSummarized",
            service="Keyhouse",
        )
        account_id, row = build_row(draft, "RequestsSummarized", None, None)
        self.committer.later(Item(account_id, row, None))

    def _close_windows(self, *, all_of_them: bool = False) -> None:
        """Summarize the budgets of minutes that are over (all of them, when stopping)."""
        window = self.clock.now().replace(second=0, microsecond=0)
        with self._budget_lock:
            for source, budget in list(self._budgets.items()):
                if all_of_them or budget.window < window:
                    self._summarize(source, budget)
                    del self._budgets[source]

    def health(self) -> TrailHealth:
        committed = self.committer.health()
        return TrailHealth(
            committed.writable,
            committed.queued,
            committed.set_aside,
            self._summarized,
            committed.batches,
            committed.items,
        )

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        self.committer.start()
        self._ticker = threading.Thread(target=self._tick, name="audit-summaries", daemon=True)
        self._ticker.start()

    def stop(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=5)
        self._close_windows(all_of_them=True)
        self.committer.stop()

    def flush(self) -> int:
        """Write whatever waits (commands run without the writer thread)."""
        return self.committer.flush()

    def _tick(self) -> None:
        while not self._stop.wait(1.0):
            self._close_windows()
