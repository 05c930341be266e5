"""The audit trail: one event per request, written where it must be, read back for people.

- The event of a successful change is written inside the change's own transaction (the store
  calls :meth:`AuditWriter.before_commit` just before a write transaction commits): if it
  cannot be written, the change rolls back and the caller gets an error.
- Events of reads and refusals go to a bounded in-memory queue that a background thread
  writes at least every half second. When the queue is full, a caller waits a bounded time
  and is then refused (503): no request is answered without its event, and none waits forever.
- A batch that cannot be written is retried event by event; an event that still cannot be
  stored (not because the store is away, but because of what it holds) is set aside: counted,
  logged with its ID, reported by ``/healthz``. One bad event never stops the writer.
- Requests refused before anyone was authenticated cost the store a bounded amount: each
  source address has a budget of events per minute; beyond it, its refusals are counted and
  recorded as one summary event per source and minute.
- Each account's events form a hash chain (keyhouse.domain.audit); ``verify`` walks it.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import queue
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from keyhouse.clock import Clock, format_date, parse_date
from keyhouse.domain import audit, netpolicy
from keyhouse.domain.errors import InvalidValue
from keyhouse.domain.model import Principal
from keyhouse.services.base import UseCases
from keyhouse.store.sql import SqlStore, Tx

log = logging.getLogger("keyhouse.audit")

_current: ContextVar[EventDraft | None] = ContextVar("keyhouse_audit_event", default=None)


@dataclass
class EventDraft:
    """What is known about a request's event while the request is served."""

    event_id: str
    at: datetime
    request_id: str
    source_ip: str
    user_agent: str
    parameters: dict[str, str]
    action: str = ""
    version: str = ""
    service: str = ""
    rw: str = "Read"
    principal: Principal | None = None
    # For refusals before a principal exists: the account and user of the AccessKey used.
    account_id: str = ""
    user_name: str | None = None
    user_id: str | None = None
    access_key_id: str | None = None
    annotations: dict[str, Any] = field(default_factory=dict)
    written: bool = False
    event_type: str = "ApiCall"  # "ConsoleOperation", "ConsoleSignin"
    truncated: bool = False  # some request parameters were left out of the event


def annotate(**fields: Any) -> None:
    """Add response elements to the current request's event (no-op outside a request)."""
    draft = _current.get()
    if draft is not None:
        draft.annotations.update(fields)


def _identity(d: EventDraft) -> dict[str, Any]:
    p = d.principal
    if p is not None:
        return {
            "type": "root-account" if p.is_root else "ram-user",
            "principalId": p.user_id or p.account_id,
            "accountId": p.account_id,
            "accessKeyId": p.access_key_id,
            "userName": p.user_name or "root",
        }
    return {
        "type": ("ram-user" if d.user_id else "root-account") if d.account_id else "unknown",
        "principalId": d.user_id or d.account_id,
        "accountId": d.account_id,
        "accessKeyId": d.access_key_id,
        "userName": d.user_name or ("root" if d.account_id else ""),
    }


def build_row(
    d: EventDraft, error_code: str | None, error_message: str | None, response: Any
) -> tuple[str, dict[str, Any]]:
    """(account id, audit_events columns) of the finished event."""
    identity = _identity(d)
    identity["accessKeyId"] = _column(identity["accessKeyId"], 32)
    identity["userName"] = audit.storable(identity["userName"] or "", 64)
    account_id = identity["accountId"] or ""
    response = audit.scrub(response) if response else None
    action = audit.storable(d.action, 64)
    event: dict[str, Any] = {
        "eventId": d.event_id,
        "eventVersion": "1",
        "eventType": d.event_type,
        "eventTime": format_date(d.at),
        "eventName": action,
        "eventRW": d.rw,
        "serviceName": d.service,
        "apiVersion": d.version,
        "acsRegion": "",
        "requestId": d.request_id,
        "sourceIpAddress": d.source_ip,
        "userAgent": d.user_agent,
        "userIdentity": identity,
        "requestParameters": d.parameters,
        "responseElements": response,
        "errorCode": _column(error_code, 128),
        "errorMessage": error_message,
        "recipientAccountId": account_id,
    }
    if d.truncated:
        event["additionalEventData"] = {"requestParametersTruncated": True}
    names = audit.resources(d.parameters, response if isinstance(response, dict) else None)
    resources = " ".join(audit.storable(n, 256) for n in names)[: audit.MAX_PARAMETER_BYTES]
    return account_id, {
        "event_id": d.event_id,
        "event_time": d.at,
        "event_name": action,
        "event_rw": d.rw,
        "service_name": audit.storable(d.service, 32),
        "access_key_id": identity["accessKeyId"],
        "user_name": identity["userName"] or None,
        "source_ip": audit.storable(d.source_ip, 64),
        "error_code": event["errorCode"],
        "resources": f" {resources} " if resources else "",
        "body": audit.storable(audit.canonical(event)),
    }


def _column(value: str | None, length: int) -> str | None:
    return audit.storable(value, length) if value else value


def system_row(
    account_id: str, name: str, at: datetime, parameters: dict[str, str], names: list[str]
) -> dict[str, Any]:
    """An event Keyhouse itself caused (the retention sweep), for the account's trail;
    ``names`` are the resources it concerns (what LookupEvents' ResourceName and whois find)."""
    draft = EventDraft(
        event_id=str(uuid.uuid4()),
        at=at,
        request_id="",
        source_ip="",
        user_agent="keyhouse",
        parameters=parameters,
        action=name,
        service="Ims",
        rw="Write",
        account_id=account_id,
        user_name="keyhouse-retention-sweep",
    )
    _, row = build_row(draft, None, None, None)
    body = json.loads(row["body"])
    body["userIdentity"]["type"] = "system"
    row["body"] = audit.canonical(body)
    row["resources"] = " " + " ".join(sorted(set(names))) + " " if names else ""
    return row


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
    writable: bool  # the last write attempt succeeded (or none was needed)
    queued: int
    set_aside: int  # events that could not be stored at all, since start
    summarized: int  # refusals counted in summary events instead of stored one by one


class AuditWriter:
    """Records events: in the change's transaction, or through the buffer."""

    # Refusals before authentication that one source may have stored per minute.
    SOURCE_BUDGET = 60
    # Sources tracked at once; beyond that, new sources share one budget ("*").
    MAX_SOURCES = 10_000
    # How long a request may wait for room in a full queue before it is refused.
    QUEUE_WAIT = 5.0

    def __init__(
        self,
        store: SqlStore,
        clock: Clock,
        *,
        capacity: int = 10_000,
        interval: float = 0.5,
        enabled: bool = True,
        set_aside_after: float = 30.0,
    ) -> None:
        self.enabled = enabled
        self.set_aside_after = set_aside_after
        self.store = store
        self.clock = clock
        self.interval = interval
        self._queue: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue(maxsize=capacity)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._flushing = threading.Lock()
        self._budgets: dict[str, _SourceBudget] = {}
        self._budget_lock = threading.Lock()
        self._writable = True
        self._set_aside = 0
        self._summarized = 0
        self._failing: dict[str, float] = {}  # event ID -> when it first failed (monotonic)

    # -- one request ------------------------------------------------------------------------
    def begin(
        self, request_id: str, source_ip: str, user_agent: str, params: Mapping[str, str]
    ) -> tuple[EventDraft, Token[EventDraft | None]]:
        if not self.enabled:
            draft = EventDraft("", self.clock.now(), request_id, source_ip, "", {}, written=True)
            return draft, _current.set(None)
        parameters, truncated = audit.request_parameters(params)
        draft = EventDraft(
            event_id=str(uuid.uuid4()),
            at=self.clock.now(),
            request_id=request_id,
            source_ip=source_ip,
            user_agent=user_agent[:256],
            parameters=parameters,
            truncated=truncated,
        )
        return draft, _current.set(draft)

    @staticmethod
    def end(token: Token[EventDraft | None]) -> None:
        _current.reset(token)

    def before_commit(self, tx: Tx) -> None:
        """The store's hook: a successful change's event, in the change's transaction."""
        draft = _current.get()
        if draft is None or draft.written or draft.rw != "Write" or draft.principal is None:
            return
        account_id, row = build_row(draft, None, None, draft.annotations)
        tx.append_events(account_id, [row])
        draft.written = True

    def finish(self, draft: EventDraft, status: int, body: Mapping[str, Any]) -> bool:
        """After the reply is known: queue the event unless the change already wrote it.
        False when the event could not be queued in time (the caller must not send the
        reply it had: it answers 503 instead)."""
        if draft.written or not self.enabled:
            return True
        if status >= 400:
            code = str(body.get("Code"))
            if draft.principal is None and not self._within_budget(draft, code):
                return True  # counted in its source's summary event
            row = build_row(draft, code, str(body.get("Message")), None)
        else:
            row = build_row(draft, None, None, draft.annotations or None)
        try:
            self._queue.put(row, timeout=self.QUEUE_WAIT)
        except queue.Full:
            log.error("the audit queue stayed full for %.0f s; refusing a request", self.QUEUE_WAIT)
            return False
        return True

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
            event_id=str(uuid.uuid4()),
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
        try:
            self._queue.put_nowait(build_row(draft, "RequestsSummarized", None, None))
        except queue.Full:
            log.error("the audit queue is full; a summary of %d refusals is lost", budget.over)

    def _close_windows(self, *, all_of_them: bool = False) -> None:
        """Summarize the budgets of minutes that are over (all of them, when stopping)."""
        window = self.clock.now().replace(second=0, microsecond=0)
        with self._budget_lock:
            for source, budget in list(self._budgets.items()):
                if all_of_them or budget.window < window:
                    self._summarize(source, budget)
                    del self._budgets[source]

    def health(self) -> TrailHealth:
        return TrailHealth(
            self._writable or not self.enabled,
            self._queue.qsize(),
            self._set_aside,
            self._summarized,
        )

    # -- the buffer ---------------------------------------------------------------------------
    def start(self) -> None:
        if not self.enabled:
            return
        self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=15)
        self._close_windows(all_of_them=True)
        self.flush()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self._close_windows()
                self.flush()
            except Exception:
                log.exception("writing audit events failed; they stay queued and are retried")

    def flush(self) -> int:
        """Write everything queued now, one transaction per batch. A batch that fails is
        halved until the events that cannot be written are alone: the rest are written. If
        the store itself is away, everything is queued again (order within an account kept)
        and the error is raised."""
        with self._flushing:
            batch: list[tuple[str, dict[str, Any]]] = []
            with contextlib.suppress(queue.Empty):
                while len(batch) < 5000:
                    batch.append(self._queue.get_nowait())
            if not batch:
                return 0
            failed: list[tuple[str, dict[str, Any]]] = []
            try:
                written = self._write_halving(batch, failed)
            except Exception:
                self._writable = False
                self._requeue(batch)
                raise
            self._writable = True
            self._retry_later(failed)
            return written

    def _write_halving(
        self, batch: list[tuple[str, dict[str, Any]]], failed: list[tuple[str, dict[str, Any]]]
    ) -> int:
        """Write ``batch``; on failure, each half. Single events that fail go to ``failed``.
        Raises (having written nothing of what it raises for) when the store is away."""
        try:
            self._write(batch)
        except Exception as exc:
            if self.store.unavailable(exc):
                raise
            if len(batch) == 1:
                failed.append(batch[0])
                log.warning(
                    "audit event %s (%s) cannot be stored: %s",
                    batch[0][1]["event_id"],
                    batch[0][1]["event_name"],
                    type(exc).__name__,
                )
                return 0
            middle = len(batch) // 2
            return self._write_halving(batch[:middle], failed) + self._write_halving(
                batch[middle:], failed
            )
        if self._failing:
            for _, row in batch:
                self._failing.pop(row["event_id"], None)
        return len(batch)

    def _retry_later(self, failed: list[tuple[str, dict[str, Any]]]) -> None:
        """Queue events that could not be written for another try; one that has kept failing
        for ``set_aside_after`` seconds is set aside, so that it never holds up the trail."""
        now = time.monotonic()
        for item in failed:
            event_id = item[1]["event_id"]
            first = self._failing.setdefault(event_id, now)
            if now - first < self.set_aside_after:
                with contextlib.suppress(queue.Full):
                    self._queue.put_nowait(item)
                    continue
            del self._failing[event_id]
            self._set_aside += 1
            log.error(
                "audit event %s (%s, account %s) is set aside: it could not be stored",
                event_id,
                item[1]["event_name"],
                item[0] or "-",
            )

    def _write(self, batch: list[tuple[str, dict[str, Any]]]) -> None:
        by_account: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for account_id, row in batch:
            by_account[account_id].append(row)
        with self.store.transaction(write=True) as tx:
            for account_id in sorted(by_account):
                tx.append_events(account_id, by_account[account_id])

    def _requeue(self, batch: list[tuple[str, dict[str, Any]]]) -> None:
        rest: list[tuple[str, dict[str, Any]]] = []
        with contextlib.suppress(queue.Empty):
            while True:
                rest.append(self._queue.get_nowait())
        for item in [*batch, *rest]:
            try:
                self._queue.put_nowait(item)
            except queue.Full:
                # Requests queued meanwhile took the room: wait a bounded time, then set the
                # event aside rather than block the writer for good.
                try:
                    self._queue.put(item, timeout=self.QUEUE_WAIT)
                except queue.Full:
                    self._set_aside += 1
                    log.error(
                        "audit event %s is set aside: the queue stayed full", item[1]["event_id"]
                    )


@dataclass(frozen=True, slots=True)
class Page:
    events: list[dict[str, Any]]
    next_token: str
    start: datetime
    end: datetime


_LOOKUP_KEYS = (
    "EventAccessKeyId",
    "EventName",
    "User",
    "EventRW",
    "EventId",
    "ServiceName",
    "ResourceName",
)
# Refusals that mean "this key exists no longer, or not as a usable key".
DEAD_KEY_CODES = ("InvalidAccessKeyId.Inactive", "InvalidAccessKeyId.NotFound")


def _token(at: datetime, seq: int) -> str:
    return base64.urlsafe_b64encode(f"{at.isoformat()}|{seq}".encode()).decode()


def _untoken(token: str) -> tuple[datetime, int]:
    refused = InvalidValue("NextToken", "The token is not one this service returned.")
    if len(token) > 200:
        raise refused
    try:
        at, seq = base64.urlsafe_b64decode(token.encode()).decode().split("|")
        when, number = datetime.fromisoformat(at), int(seq)
    except (ValueError, UnicodeError) as exc:
        raise refused from exc
    if when.tzinfo is None or not 0 <= number < 2**63:
        raise refused
    return when, number


class Trail(UseCases):
    """Reading the trail: ActionTrail LookupEvents, and the operator's questions."""

    def lookup(
        self,
        principal: Principal,
        attributes: list[tuple[str, str]],
        start: datetime | None,
        end: datetime | None,
        max_results: int,
        next_token: str | None,
        forward: bool,
    ) -> Page:
        now = self.clock.now()
        end = end or now
        start = start or end - timedelta(days=7)
        if start > end:
            raise InvalidValue("StartTime", "StartTime must not be after EndTime.")
        filters: dict[str, str] = {}
        resource = None
        for key, value in attributes:
            if key not in _LOOKUP_KEYS:
                raise InvalidValue(
                    "LookupAttribute", f"Unknown key {key!r}; use one of {', '.join(_LOOKUP_KEYS)}."
                )
            if key == "ResourceName":
                resource = value
            else:
                filters[key] = value
        after = _untoken(next_token) if next_token else None
        with self.store.transaction() as tx:
            account = self._account(tx, principal, "actiontrail:LookupEvents")
            rows = tx.lookup_events(
                account.account_id, start, end, filters, resource, after, forward, max_results + 1
            )
        page = rows[:max_results]
        more = len(rows) > max_results
        token = _token(page[-1][0], page[-1][1]) if more and page else ""
        return Page([json.loads(body) for _, _, body in page], token, start, end)

    # -- operator views (CLI) -------------------------------------------------------------
    def verify(self, account_id: str | None = None) -> list[audit.Break]:
        """Every account's chain (or one); the first break of each broken one."""
        with self.store.transaction() as tx:
            heads = tx.audit_heads([account_id] if account_id is not None else None)
            breaks = []
            for head in heads:
                found = audit.verify(head, tx.chain(head.account_id))
                if found is not None:
                    breaks.append(found)
            return breaks

    def export(self, since: datetime, until: datetime | None) -> Iterator[str]:
        with self.store.transaction() as tx:
            yield from tx.events_between(since, until)

    def attempts(self, access_key_id: str, limit: int = 1000) -> list[dict[str, Any]]:
        """Refused uses of a disabled, binned or purged key, newest first."""
        with self.store.transaction() as tx:
            found = tx.events_of_key(access_key_id, errors=DEAD_KEY_CODES, limit=limit)
        return [json.loads(body) for _, body in found]

    def history(self, access_key_id: str, limit: int = 1000) -> list[tuple[str, dict[str, Any]]]:
        """(account id, event) of events signed with or naming the key, newest first."""
        with self.store.transaction() as tx:
            found = tx.events_of_key(access_key_id, mentioned=True, limit=limit)
        return [(account, json.loads(body)) for account, body in found]

    def simulate(
        self, principal: Principal, access_key_id: str, document: str, days: int
    ) -> list[dict[str, Any]]:
        """Recent successful uses of the key that ``document`` (a network access policy)
        would have refused, newest first. They come from the trail, so the caller must be
        allowed to read it (``actiontrail:LookupEvents``); only its own account's uses."""
        proposed = netpolicy.parse(document)
        since = self.clock.now() - timedelta(days=days)
        with self.store.transaction() as tx:
            if not principal.is_operator:
                account = self._account(tx, principal, "actiontrail:LookupEvents")
            found = tx.events_of_key(access_key_id, since=since, limit=100_000)
        if not principal.is_operator:
            found = [(a, body) for a, body in found if a == account.account_id]
        return _refused_by(proposed, (body for _, body in found))

    def simulate_account(
        self, principal: Principal, document: str, days: int
    ) -> list[dict[str, Any]]:
        """The same for every key of the caller's account (an account-level policy), as far
        as the caller may read the trail."""
        proposed = netpolicy.parse(document)
        now = self.clock.now()
        with self.store.transaction() as tx:
            account = self._account(tx, principal, "actiontrail:LookupEvents")
            rows = tx.lookup_events(
                account.account_id, now - timedelta(days=days), now, {}, None, None, False, 100_000
            )
        return _refused_by(proposed, (body for _, _, body in rows))


def _refused_by(proposed: netpolicy.NetworkPolicy, bodies: Iterable[str]) -> list[dict[str, Any]]:
    refused = []
    for body in bodies:
        event = json.loads(body)
        if event.get("errorCode") or event.get("eventType") != "ApiCall":
            continue  # refused anyway, or not signed with an AccessKey
        if not proposed.allows(event.get("sourceIpAddress", "")):
            refused.append(event)
    return refused


def parse_time(text: str, parameter: str) -> datetime:
    try:
        return parse_date(text)
    except ValueError as exc:
        raise InvalidValue(parameter, "Use a UTC time such as 2026-11-29T08:00:00Z.") from exc
