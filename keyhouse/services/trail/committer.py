"""Group commit: the durable parts of many requests in one transaction, before any is answered.

A request that changed nothing still leaves something that must survive a crash once it is
answered: its nonce (spent, or a replay would be accepted after a restart) and its audit event.
Requests hand these to the committer and wait; a single thread takes everything waiting,
writes it in one transaction — the nonces with one statement, the events chained per account —
commits, and wakes each request with its outcome. While one batch commits the next one
gathers, so the batch grows with the load and the cost per request falls.

- A request answered from the in-process cache (keyhouse.store.cache) names the epochs it was
  read under; the batch re-reads them first, and a request whose account moved meanwhile gets
  STALE (nothing of it is written: it runs again against the store before anything is sent).
- A nonce already spent makes its request's outcome NONCE_USED (its event is not written: the
  caller answers SignatureNonceUsed instead, and records that).
- The store away (connection refused, locked): every request of the batch gets UNAVAILABLE
  and answers 503; items nobody waits for (summary events, retries) are kept for later.
- A batch the store refuses for what it holds is halved until the refused items are alone;
  the others are written. A refused item's request gets FAILED and answers 503; the event it
  had (of an answer never given) is set aside: logged and counted. Items nobody waits for are
  retried every half second, and set aside after ``set_aside_after`` seconds. One bad event
  never stops the rest.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import queue
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from keyhouse.clock import Clock
from keyhouse.metrics import Metrics
from keyhouse.services.authn import NonceClaim
from keyhouse.store.batch import BatchTx, BatchWriter
from keyhouse.store.sql import SqlStore

log = logging.getLogger("keyhouse.audit")


class Outcome(Enum):
    COMMITTED = "committed"
    NONCE_USED = "nonce_used"
    UNAVAILABLE = "unavailable"  # the store could not be reached: answer 503
    FAILED = "failed"  # the store refused this item: answer 503
    STALE = "stale"  # answered from cache entries that changed since: run it again


@dataclass(eq=False)
class Item:
    """One request's durable parts: its event (account, audit_events row) and its nonce, and
    the cache epochs its answer was read under (by account), if it was served from memory."""

    account_id: str = ""
    row: dict[str, Any] | None = None
    nonce: NonceClaim | None = None
    waiter: threading.Event | None = None  # a request waiting on a worker thread
    outcome: Outcome | None = None
    first_failed: float | None = None
    depends: dict[str, int] | None = None
    # The request's last-used note: (AccessKey ID, when, service), written with its nonce.
    last_used: tuple[str, datetime, str] | None = None
    # A request waiting on an event loop instead of a thread.
    future: asyncio.Future[Outcome] | None = None

    @property
    def awaited(self) -> bool:
        return self.waiter is not None or self.future is not None

    def resolve(self, outcome: Outcome) -> None:
        self.outcome = outcome
        if self.waiter is not None:
            self.waiter.set()


@dataclass(frozen=True, slots=True)
class CommitHealth:
    writable: bool  # the last batch committed (or none was needed)
    queued: int
    set_aside: int  # events that could not be stored at all, since start
    batches: int  # batches written since start
    items: int  # requests' durable parts (and other events) in them


class GroupCommitter:
    # How long a request may wait for room in the queue and then for its batch.
    WAIT = 10.0
    MAX_BATCH = 2000
    # After the first item of a batch, how long to gather more, once the last batch showed
    # load (GATHER_FROM items or more): fewer, larger transactions then (SQLite processes
    # take turns per transaction). A light load gets no wait: a single client's request
    # took 1.8 ms with it, 0.6 ms without.
    GATHER = 0.001
    GATHER_FROM = 8
    RETRY_EVERY = 0.5

    def __init__(
        self,
        store: SqlStore,
        clock: Clock,
        *,
        capacity: int = 10_000,
        set_aside_after: float = 30.0,
        metrics: Metrics | None = None,
    ) -> None:
        self.store = store
        self.metrics = metrics
        self._writer = BatchWriter(store.engine, store.write_lock, lambda: store.chain_key)
        self.clock = clock
        self.set_aside_after = set_aside_after
        # Items arrive in lists: one per thread-side request, one per event-loop iteration.
        self._queue: queue.Queue[list[Item]] = queue.Queue(maxsize=capacity)
        self._gathering: dict[asyncio.AbstractEventLoop, list[Item]] = {}
        self._watched: dict[
            asyncio.AbstractEventLoop, collections.deque[tuple[float, list[Item]]]
        ] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._writing = threading.Lock()
        self._writable = True
        self._set_aside = 0
        self._batches = 0
        self._last_size = 0
        self._items = 0
        self._retries: list[Item] = []  # items nobody waits for, to try again (paced)
        self._retry_guard = threading.Lock()
        self._last_retry = 0.0

    # -- requests ---------------------------------------------------------------------------
    def commit(self, item: Item) -> Outcome:
        """Hand ``item`` over and wait until its batch committed (or could not)."""
        if self._thread is None:  # no writer running (a command, a test): write it now
            self._write_batch([item])
            return item.outcome or Outcome.FAILED
        deadline = time.monotonic() + self.WAIT
        item.waiter = threading.Event()
        try:
            self._queue.put([item], timeout=self.WAIT)
        except queue.Full:
            log.error("the commit queue stayed full for %.0f s; refusing a request", self.WAIT)
            return Outcome.UNAVAILABLE
        assert item.waiter is not None
        if not item.waiter.wait(max(0.0, deadline - time.monotonic())):
            log.error("a batch took longer than %.0f s to commit; refusing a request", self.WAIT)
            return Outcome.UNAVAILABLE
        return item.outcome or Outcome.FAILED

    async def commit_async(self, item: Item) -> Outcome:
        """:meth:`commit` for a request served on the event loop: the loop never blocks."""
        if self._thread is None:
            raise RuntimeError("the group committer is not running")
        loop = asyncio.get_running_loop()
        item.waiter = None
        item.future = loop.create_future()
        gathering = self._gathering.get(loop)
        if gathering is None:
            # The requests of one loop iteration go to the writer together: one hand-over
            # (and one wake-up of the writer thread) for all of them.
            gathering = self._gathering[loop] = []
            loop.call_soon(self._hand_over, loop)
        gathering.append(item)
        return await item.future

    def _hand_over(self, loop: asyncio.AbstractEventLoop) -> None:
        items = self._gathering.pop(loop, [])
        try:
            self._queue.put_nowait(items)
        except queue.Full:
            log.error("the commit queue is full; refusing %d requests", len(items))
            for item in items:
                item.resolve(Outcome.UNAVAILABLE)
            _settle(items)
            return
        # A request waits at most WAIT for its batch: one watch per loop over the hand-overs
        # in order, not a timer per request (a tenth of the hand-over's cost).
        watched = self._watched.get(loop)
        if watched is None:
            watched = self._watched[loop] = collections.deque()
        if not watched:
            loop.call_later(_WATCH_EVERY, self._watch, loop)
        watched.append((loop.time() + self.WAIT, items))

    def _watch(self, loop: asyncio.AbstractEventLoop) -> None:
        """Forget the hand-overs whose requests all have their outcome; refuse (503) the
        requests of those older than WAIT that still wait."""
        watched = self._watched.get(loop)
        if not watched:
            return
        now = loop.time()
        while watched:
            deadline, items = watched[0]
            if deadline <= now:
                _overdue(items)
            elif any(item.future is not None and not item.future.done() for item in items):
                break
            watched.popleft()
        if watched:
            loop.call_later(_WATCH_EVERY, self._watch, loop)

    def later(self, item: Item) -> None:
        """Queue an item nobody waits for (a summary event); dropped, and logged, when the
        queue is full."""
        item.waiter = None
        try:
            self._queue.put_nowait([item])
        except queue.Full:
            log.error("the commit queue is full; event %s is lost", _event_id(item))

    @property
    def running(self) -> bool:
        return self._thread is not None

    def health(self) -> CommitHealth:
        return CommitHealth(
            self._writable, self._queue.qsize(), self._set_aside, self._batches, self._items
        )

    # -- the writer thread ----------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="group-commit", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=15)
        self._thread = None
        self.flush()
        self._writer.close()

    def flush(self) -> int:
        """Write everything queued now (commands, shutdown); returns how many items."""
        written = 0
        with self._retry_guard:
            retries, self._retries = self._retries, []
        if retries:
            self._write_batch(retries)
        while batch := self._drain(None):
            self._write_batch(batch)
            written += len(batch)
            if not self._writable:
                break
        return written

    def _run(self) -> None:
        while not self._stop.is_set():
            batch = self._drain(0.2)
            if self._retries and time.monotonic() - self._last_retry >= self.RETRY_EVERY:
                self._last_retry = time.monotonic()
                with self._retry_guard:
                    batch += self._retries
                    self._retries = []
            if not batch:
                continue
            try:
                self._write_batch(batch)
            except Exception:  # never let the writer die
                log.exception("a commit batch failed unexpectedly")
                for item in batch:
                    if item.outcome is None:
                        item.resolve(Outcome.FAILED)
                _wake(batch)

    def _drain(self, wait: float | None) -> list[Item]:
        """The first item (waiting up to ``wait``), then whatever arrives within GATHER."""
        batch: list[Item] = []
        try:
            batch += self._queue.get(timeout=wait) if wait else self._queue.get_nowait()
        except queue.Empty:
            return batch
        loaded = wait and self._last_size >= self.GATHER_FROM
        until = time.monotonic() + (self.GATHER if loaded else 0.0)
        with contextlib.suppress(queue.Empty):
            while len(batch) < self.MAX_BATCH:
                left = until - time.monotonic()
                got = self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait()
                batch += got
        self._last_size = len(batch)
        return batch

    def _write_batch(self, batch: list[Item]) -> None:
        try:
            self._write_batch_now(batch)
        finally:
            _wake(batch)

    def _write_batch_now(self, batch: list[Item]) -> None:
        with self._writing:
            failed: list[Item] = []
            started = time.perf_counter()
            try:
                self._write_halving(batch, failed)
                self._batches += 1
                self._items += len(batch)
            except Exception as exc:
                self._writable = False
                if self.metrics is not None:
                    self.metrics.store_errors.labels("commit").inc()
                log.error("the store is unavailable for a commit batch: %s", type(exc).__name__)
                for item in batch:
                    if item.outcome is not None:
                        continue
                    if not item.awaited:
                        self._retry(item, unavailable=True)
                    else:
                        item.resolve(Outcome.UNAVAILABLE)
                return
            self._writable = True
            if self.metrics is not None:
                self.metrics.committed(len(batch), time.perf_counter() - started)
            for item in failed:
                if not item.awaited:
                    self._retry(item)
                else:
                    self._set_aside_now(item)
                    item.resolve(Outcome.FAILED)

    def _write_halving(self, batch: list[Item], failed: list[Item]) -> None:
        """Write ``batch`` in one transaction; on a refusal, each half. Raises when the store
        is away (the halves written before that have their outcome; the rest have none)."""
        try:
            outcomes = self._write_retrying(batch)
        except Exception as exc:
            if self.store.unavailable(exc):
                raise
            if len(batch) == 1:
                failed.append(batch[0])
                log.warning(
                    "audit event %s cannot be stored: %s", _event_id(batch[0]), type(exc).__name__
                )
                return
            middle = len(batch) // 2
            self._write_halving(batch[:middle], failed)
            self._write_halving(batch[middle:], failed)
            return
        for item, outcome in zip(batch, outcomes, strict=True):
            item.resolve(outcome)

    def _write_retrying(self, batch: list[Item]) -> list[Outcome]:
        """One transaction for ``batch``, tried again at once after a deadlock or a
        serialization failure (PostgreSQL chose this transaction to abort; nothing is wrong
        with what it holds)."""
        for attempt in range(3):
            try:
                with self._writer.transaction() as tx:
                    return _write(tx, batch, self.clock.now())
            except Exception as exc:
                if attempt == 2 or not _rolled_back_by_contention(exc):
                    raise
                log.warning("a commit batch met a deadlock; trying it again")
        raise AssertionError("unreachable")

    def _retry(self, item: Item, *, unavailable: bool = False) -> None:
        """Try an item nobody waits for again later; one the store has refused for
        ``set_aside_after`` seconds is set aside (while the store is away, it waits)."""
        if item.row is None:
            return
        now = time.monotonic()
        item.first_failed = item.first_failed or now
        if unavailable or now - item.first_failed < self.set_aside_after:
            with self._retry_guard:
                if len(self._retries) < self._queue.maxsize:
                    self._retries.append(item)
                    return
        self._set_aside_now(item)

    def _set_aside_now(self, item: Item) -> None:
        if item.row is None:
            return
        self._set_aside += 1
        log.error(
            "audit event %s (%s, account %s) is set aside: it could not be stored",
            _event_id(item),
            item.row.get("event_name"),
            item.account_id or "-",
        )


def _rolled_back_by_contention(exc: BaseException) -> bool:
    """PostgreSQL's deadlock_detected (40P01) or serialization_failure (40001)."""
    return getattr(getattr(exc, "orig", None), "sqlstate", None) in {"40P01", "40001"}


def _wake(batch: list[Item]) -> None:
    """Hand the outcomes of a batch's loop-side requests to their loops: one wake-up per loop
    and batch, not one per request."""
    by_loop: dict[asyncio.AbstractEventLoop, list[Item]] = defaultdict(list)
    for item in batch:
        if item.future is not None and item.outcome is not None:
            by_loop[item.future.get_loop()].append(item)
    for loop, items in by_loop.items():
        with contextlib.suppress(RuntimeError):  # a loop closed meanwhile
            loop.call_soon_threadsafe(_settle, items)


_WATCH_EVERY = 0.5  # seconds between two looks at a loop's waiting requests


def _overdue(items: list[Item]) -> None:
    """Items whose batch has not committed within WAIT: their requests are refused (503)."""
    late = [item for item in items if item.future is not None and not item.future.done()]
    if late:
        log.error(
            "a batch took longer than %.0f s to commit; refusing %d requests",
            GroupCommitter.WAIT,
            len(late),
        )
        for item in late:
            assert item.future is not None
            item.future.set_result(Outcome.UNAVAILABLE)


def _settle(items: list[Item]) -> None:
    for item in items:
        if item.future is not None and not item.future.done() and item.outcome is not None:
            item.future.set_result(item.outcome)


def _event_id(item: Item) -> str:
    return str(item.row.get("event_id")) if item.row else "-"


def _write(tx: BatchTx, batch: list[Item], now: datetime) -> list[Outcome]:
    """One transaction's work: find the answers read from cache entries that have changed
    since (STALE: nothing of them is written), claim the other requests' nonces, then chain
    the events of the requests whose nonce was theirs to spend."""
    stale = _stale(tx, batch)
    claims = [item.nonce for item in batch if item.nonce is not None and item not in stale]
    won = (
        tx.claim_nonces([(c.access_key_id, c.nonce, c.expires_at) for c in claims], now)
        if claims
        else set()
    )
    outcomes: list[Outcome] = []
    by_account: dict[str, list[dict[str, Any]]] = defaultdict(list)
    used: dict[str, tuple[datetime, str]] = {}
    seen: set[tuple[str, str]] = set()
    for item in batch:
        if item in stale:
            outcomes.append(Outcome.STALE)
            continue
        if item.nonce is not None:
            key = (item.nonce.access_key_id, item.nonce.nonce)
            if key not in won or key in seen:  # spent before, or twice in this batch
                outcomes.append(Outcome.NONCE_USED)
                continue
            seen.add(key)
        if item.row is not None:
            by_account[item.account_id].append(item.row)
        if item.last_used is not None:
            access_key_id, at, service = item.last_used
            if access_key_id not in used or used[access_key_id][0] <= at:
                used[access_key_id] = (at, service)
        outcomes.append(Outcome.COMMITTED)
    if used:  # keys before audit heads, in order: the order write transactions lock them in
        tx.record_last_used([(k, at, service) for k, (at, service) in sorted(used.items())])
    for account_id in sorted(by_account):
        tx.append_events(account_id, by_account[account_id])
    return outcomes


def _stale(tx: BatchTx, batch: list[Item]) -> set[Item]:
    """The items answered under a cache epoch their account no longer shows."""
    accounts = {a for item in batch if item.depends for a in item.depends}
    if not accounts:
        return set()
    now = tx.cache_epochs(accounts)
    return {
        item
        for item in batch
        if item.depends and any(now.get(a) != epoch for a, epoch in item.depends.items())
    }
