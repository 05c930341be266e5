"""The audit trail: one event per request, written where it must be, read back for people.

- The event of a successful change is written inside the change's own transaction (the store
  calls :meth:`AuditWriter.before_commit` just before a write transaction commits): if it
  cannot be written, the change rolls back and the caller gets an error.
- Events of reads and refusals go to a bounded in-memory queue that a background thread
  writes at least every half second. When the queue is full, callers wait: events are never
  dropped to keep up.
- Each account's events form a hash chain (keyhouse.domain.audit); ``verify`` walks it.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import queue
import threading
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
    account_id = identity["accountId"] or ""
    response = audit.scrub(response) if response else None
    event = {
        "eventId": d.event_id,
        "eventVersion": "1",
        "eventType": d.event_type,
        "eventTime": format_date(d.at),
        "eventName": d.action,
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
        "errorCode": error_code,
        "errorMessage": error_message,
        "recipientAccountId": account_id,
    }
    names = audit.resources(d.parameters, response if isinstance(response, dict) else None)
    return account_id, {
        "event_id": d.event_id,
        "event_time": d.at,
        "event_name": d.action[:64],
        "event_rw": d.rw,
        "service_name": d.service[:32],
        "access_key_id": identity["accessKeyId"],
        "user_name": (identity["userName"] or None),
        "source_ip": d.source_ip[:64],
        "error_code": error_code[:128] if error_code else None,
        "resources": " " + " ".join(names) + " " if names else "",
        "body": audit.canonical(event),
    }


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


class AuditWriter:
    """Records events: in the change's transaction, or through the buffer."""

    def __init__(
        self,
        store: SqlStore,
        clock: Clock,
        *,
        capacity: int = 10_000,
        interval: float = 0.5,
        enabled: bool = True,
    ) -> None:
        self.enabled = enabled
        self.store = store
        self.clock = clock
        self.interval = interval
        self._queue: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue(maxsize=capacity)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._flushing = threading.Lock()

    # -- one request ------------------------------------------------------------------------
    def begin(
        self, request_id: str, source_ip: str, user_agent: str, params: Mapping[str, str]
    ) -> tuple[EventDraft, Token[EventDraft | None]]:
        if not self.enabled:
            draft = EventDraft("", self.clock.now(), request_id, source_ip, "", {}, written=True)
            return draft, _current.set(None)
        draft = EventDraft(
            event_id=str(uuid.uuid4()),
            at=self.clock.now(),
            request_id=request_id,
            source_ip=source_ip,
            user_agent=user_agent[:256],
            parameters=audit.request_parameters(params),
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

    def finish(self, draft: EventDraft, status: int, body: Mapping[str, Any]) -> None:
        """After the reply is known: queue the event unless the change already wrote it."""
        if draft.written or not self.enabled:
            return
        if status >= 400:
            row = build_row(draft, str(body.get("Code")), str(body.get("Message")), None)
        else:
            row = build_row(draft, None, None, draft.annotations or None)
        self._queue.put(row)  # blocks when full: callers slow down, nothing is dropped

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
        self.flush()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.flush()
            except Exception:
                log.exception("writing audit events failed; they stay queued and are retried")

    def flush(self) -> int:
        """Write everything queued now, one transaction; on failure the events are re-queued
        ahead of newer ones' turn (order within an account is kept)."""
        with self._flushing:
            batch: list[tuple[str, dict[str, Any]]] = []
            with contextlib.suppress(queue.Empty):
                while len(batch) < 5000:
                    batch.append(self._queue.get_nowait())
            if not batch:
                return 0
            by_account: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for account_id, row in batch:
                by_account[account_id].append(row)
            try:
                with self.store.transaction(write=True) as tx:
                    for account_id in sorted(by_account):
                        tx.append_events(account_id, by_account[account_id])
            except Exception:
                self._requeue(batch)
                raise
            return len(batch)

    def _requeue(self, batch: list[tuple[str, dict[str, Any]]]) -> None:
        rest: list[tuple[str, dict[str, Any]]] = []
        with contextlib.suppress(queue.Empty):
            while True:
                rest.append(self._queue.get_nowait())
        for item in [*batch, *rest]:
            self._queue.put(item)


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
    try:
        at, seq = base64.urlsafe_b64decode(token.encode()).decode().split("|")
        return datetime.fromisoformat(at), int(seq)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidValue("NextToken", "The token is not one this service returned.") from exc


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

    def simulate(self, access_key_id: str, document: str, days: int) -> list[dict[str, Any]]:
        """Recent successful uses of the key that ``document`` (a network access policy)
        would have refused, newest first."""
        proposed = netpolicy.parse(document)
        since = self.clock.now() - timedelta(days=days)
        with self.store.transaction() as tx:
            found = tx.events_of_key(access_key_id, since=since, limit=100_000)
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
