"""How many nonce claims per second one store takes with group commit, by batch size.

Each batch is what the group committer writes for its requests' nonces: one transaction, one
``INSERT … ON CONFLICT … RETURNING`` of the batch's nonces, committed durably (PostgreSQL's
default ``synchronous_commit``). Batch size 1 is the baseline measured in the same run, so the
ratios hold on a noisy machine; clients run in several threads, as requests do.

    python -m bench.nonces [--pg URL] [--seconds 5]
"""

from __future__ import annotations

import argparse
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory

from keyhouse.store.engine import make_engine
from keyhouse.store.migrate import migrate
from keyhouse.store.sql import SqlStore

SIZES = (1, 16, 64, 256)


def _claims_per_second(store: SqlStore, size: int, seconds: float, threads: int) -> float:
    done = 0
    guard = threading.Lock()
    deadline = time.monotonic() + seconds

    def run() -> None:
        nonlocal done
        while time.monotonic() < deadline:
            now = datetime.now(UTC)
            claims = [
                ("LTAIbench", uuid.uuid4().hex, now + timedelta(minutes=31)) for _ in range(size)
            ]
            with store.transaction(write=True) as tx:
                won = tx.claim_nonces(claims, now)
            assert len(won) == size
            with guard:
                done += size

    workers = [threading.Thread(target=run) for _ in range(threads)]
    started = time.monotonic()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return done / (time.monotonic() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    with TemporaryDirectory() as tmp:
        for name, url in (("sqlite", f"sqlite:///{Path(tmp) / 'n.db'}"), ("postgres", args.pg)):
            engine = make_engine(url, pool_size=args.threads)
            migrate(engine)
            store = SqlStore(engine)
            base = 0.0
            for size in SIZES:
                rate = _claims_per_second(store, size, args.seconds, args.threads)
                base = base or rate
                print(f"{name:9} batch {size:4}  {rate:9,.0f} claims/s  {rate / base:5.1f}x")
            with store.transaction(write=True) as tx:
                tx.purge_expired_nonces(datetime.now(UTC) + timedelta(days=1))
            store.dispose()


if __name__ == "__main__":
    main()
