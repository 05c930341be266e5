"""The group committer's wait: a request served on the event loop waits at most WAIT for its
batch (then 503), with one watch per loop instead of a timer per request, and the watch lets
go of the requests it followed once they have their outcome."""

from __future__ import annotations

import asyncio
from pathlib import Path

from keyhouse.clock import SystemClock
from keyhouse.services.trail.committer import GroupCommitter, Item, Outcome
from keyhouse.store.engine import make_engine
from keyhouse.store.migrate import migrate
from keyhouse.store.sql import SqlStore


def _committer(tmp_path: Path) -> GroupCommitter:
    engine = make_engine(f"sqlite:///{tmp_path / 'k.db'}")
    migrate(engine)
    committer = GroupCommitter(SqlStore(engine), SystemClock())
    committer.WAIT = 0.3
    return committer


def test_a_request_whose_batch_does_not_commit_in_time_is_refused(tmp_path: Path) -> None:
    committer = _committer(tmp_path)
    committer.start()
    try:
        with committer.store.write_lock:  # the store stays busy: no batch can commit

            async def waiting() -> tuple[Outcome, float]:
                loop = asyncio.get_running_loop()
                started = loop.time()
                outcome = await committer.commit_async(Item())
                return outcome, loop.time() - started

            outcome, took = asyncio.run(asyncio.wait_for(waiting(), 5))
        assert outcome is Outcome.UNAVAILABLE
        assert 0.3 <= took < 2.0
    finally:
        committer.stop()


def test_answered_requests_are_let_go(tmp_path: Path) -> None:
    committer = _committer(tmp_path)
    committer.start()
    try:

        async def answered() -> list[Outcome]:
            outcomes = await asyncio.gather(*(committer.commit_async(Item()) for _ in range(50)))
            await asyncio.sleep(1.2)  # the watch looks every half second
            watched = committer._watched[asyncio.get_running_loop()]
            assert not watched
            return list(outcomes)

        assert asyncio.run(answered()) == [Outcome.COMMITTED] * 50
    finally:
        committer.stop()
