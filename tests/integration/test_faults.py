"""Faults survived, with real processes on loopback: the store unreachable for 30 s under load,
``kill -9`` in the middle of 1,000 lifecycle operations, a flood of bad signatures from one
address, and a soak of 32 clients (shortened here; KEYHOUSE_SOAK_SECONDS=600 runs the full
ten minutes). Both backends.

The clients (tests/integration/lifecycle.py) each own one user and know what it must hold,
so a lost, duplicated or half-applied change shows as a disagreement with the server; and a
checker walks the store for the quota and bin rules after each run.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.integration import raw
from tests.integration.lifecycle import STS, Owner, Tally, Unreachable, check_store, owners
from tests.integration.outage import store_away
from tests.integration.server import Server

OUTAGE = 30.0


def _drive(team: list[Owner], until: Callable[[], bool]) -> list[threading.Thread]:
    """One thread per owner, stepping until ``until()``; waits out an unreachable server."""

    def run(owner: Owner) -> None:
        while not until():
            try:
                owner.step()
            except Unreachable:
                time.sleep(0.05)

    threads = [threading.Thread(target=run, args=(o,), daemon=True) for o in team]
    for thread in threads:
        thread.start()
    return threads


def _settle(team: list[Owner]) -> list[str]:
    """Every owner's model against the server (after taking the server's word on requests
    whose outcome is unknown)."""
    problems = []
    for owner in team:
        if owner.in_doubt:
            owner.resync()
        problems += owner.check()
    return problems


def _trail_request_ids(server: Server) -> set[str]:
    exported = server.cli("audit", "export", "--since", "2000-01-01T00:00:00Z").stdout
    return {json.loads(line)["requestId"] for line in exported.splitlines()}


def test_the_store_away_for_30_s_under_load_gives_503s_and_the_service_recovers(
    own_server: Server,
) -> None:
    account = own_server.create_account("outage")
    tally = Tally()
    team = owners(own_server.endpoint, account, account, 8, tally)
    stop = threading.Event()
    threads = _drive(team, stop.is_set)
    time.sleep(3)
    before = len(tally.accepted)
    with store_away(own_server):
        time.sleep(OUTAGE)
        during = len(tally.accepted) - before
        refused_during = list(tally.server_errors)
    # Recovered without a restart: the clients' requests are answered again.
    recovered_at = time.monotonic()
    answered = len(tally.accepted)
    while len(tally.accepted) < answered + 50 and time.monotonic() - recovered_at < 60:
        time.sleep(0.1)
    recovery = time.monotonic() - recovered_at
    time.sleep(3)
    stop.set()
    for thread in threads:
        thread.join(60)

    print(
        f"outage: {len(refused_during)} x 503 and {during} answered in {OUTAGE:.0f} s; "
        f"recovered in {recovery:.1f} s; {len(tally.accepted)} accepted in all"
    )
    assert refused_during, "the store was never away"
    assert set(tally.server_errors) == {"503 ServiceUnavailable"}
    assert len(tally.accepted) >= answered + 50, "the service did not recover"
    assert _settle(team) == []
    assert check_store(own_server.database_url) == []
    # Nothing was answered without its event...
    missing = {r for r, _, _ in tally.accepted} - _trail_request_ids(own_server)
    assert not missing, f"{len(missing)} answered requests have no event"
    # ...or without its nonce: each replay of an answered request is refused as one (those
    # signed by the root: a user's pair may be gone by now, refused before its nonce counts).
    replays = [q for _, q, key in tally.accepted[before:] if key == account["AccessKeyId"]]
    assert len(replays) > 50
    for query in replays[:200]:
        status, body = raw.post_rpc(own_server.endpoint, query)
        assert (status, body["Code"]) == (400, "SignatureNonceUsed")
    own_server.cli("audit", "verify")


def test_kill_9_during_1000_lifecycle_operations_leaves_no_half_applied_change(
    own_server: Server,
) -> None:
    account = own_server.create_account("killed")
    tally = Tally()
    team = owners(own_server.endpoint, account, account, 8, tally)
    total, kill_at = 1000, 400
    threads = _drive(team, lambda: tally.answered >= total)
    while tally.answered < kill_at:
        time.sleep(0.01)
    own_server.kill()
    killed_at = tally.answered
    own_server.start()
    for owner in team:
        owner.endpoint = own_server.endpoint
    for thread in threads:
        thread.join(120)

    print(
        f"kill -9 after {killed_at} of {tally.answered} operations; {tally.unreachable} "
        f"requests cut or refused while it was down"
    )
    assert tally.answered >= total
    assert tally.unreachable > 0, "the kill cut no request"
    assert tally.server_errors == []
    assert not tally.refused, tally.refused
    assert _settle(team) == []
    assert check_store(own_server.database_url) == []
    own_server.cli("audit", "verify")
    # Each pair in the store came with its creation's event (its change and its event
    # committed together, or neither).
    exported = own_server.cli("audit", "export", "--since", "2000-01-01T00:00:00Z").stdout
    created = {
        json.loads(line).get("responseElements", {}).get("AccessKeyId")
        for line in exported.splitlines()
        if json.loads(line)["eventName"] == "CreateAccessKey"
    }
    for owner in team:
        for key_id in [*owner.status, *owner.binned]:
            assert key_id in created, f"{key_id} is in the store without its event"


@pytest.fixture
def throttled(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Server]:
    url = (
        f"sqlite:///{tmp_path / 'k.db'}"
        if backend == "sqlite"
        else request.getfixturevalue("fresh_pg")
    )
    env = {"KEYHOUSE_AUTH_FAILURES_PER_MINUTE": "60"}  # the default, named
    srv = Server(url, tmp_path / "master.key", tmp_path, extra_env=env).start()
    yield srv
    srv.stop()


def test_a_flood_of_bad_signatures_is_throttled_and_a_legitimate_client_is_not(
    throttled: Server,
) -> None:
    account = throttled.create_account("flooded")
    endpoint = throttled.endpoint
    codes: dict[str, int] = {}
    legitimate: list[int] = []
    lock = threading.Lock()
    stop = threading.Event()

    def flood() -> None:
        while not stop.is_set():
            query = raw.rpc_query(account["AccessKeyId"], "wrong", "GetCallerIdentity", STS)
            _, body = raw.post_rpc(endpoint, query, source="127.0.0.2")
            with lock:
                codes[body["Code"]] = codes.get(body["Code"], 0) + 1

    def client() -> None:
        while not stop.is_set():
            status, _ = raw.call_rpc(endpoint, account, "GetCallerIdentity", STS)
            legitimate.append(status)

    threads = [threading.Thread(target=flood) for _ in range(4)]
    threads.append(threading.Thread(target=client))
    for thread in threads:
        thread.start()
    time.sleep(10)
    stop.set()
    for thread in threads:
        thread.join(30)

    print(f"flood: {codes}; legitimate: {len(legitimate)} answered")
    assert set(legitimate) == {200}
    # The flood's first minute's worth was checked; the rest was refused unread.
    assert 60 <= codes["SignatureDoesNotMatch"] <= 75
    assert codes["Throttling.User"] > 10 * codes["SignatureDoesNotMatch"]
    # The throttled flood reaches the trail as per-minute summaries, not one event each.
    throttled.stop()
    exported = throttled.cli("audit", "export", "--since", "2000-01-01T00:00:00Z").stdout
    flooded = [json.loads(x) for x in exported.splitlines()]
    flooded = [e for e in flooded if e["sourceIpAddress"] == "127.0.0.2"]
    summarized = sum(
        int(e["requestParameters"]["Refused"])
        for e in flooded
        if e["eventName"] == "UnauthenticatedRequestsSummarized"
    )
    assert len(flooded) <= 130 and summarized >= codes["Throttling.User"] - 60


SOAK = float(os.environ.get("KEYHOUSE_SOAK_SECONDS", "20"))


def _rss(server: Server) -> int:
    assert server.process is not None
    for line in Path(f"/proc/{server.process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_a_soak_of_32_clients_loses_nothing_and_holds_its_memory(own_server: Server) -> None:
    account = own_server.create_account("soak")
    tally = Tally()
    team = owners(own_server.endpoint, account, account, 32, tally)
    deadline = time.monotonic() + SOAK
    threads = _drive(team, lambda: time.monotonic() >= deadline)
    samples: list[tuple[float, int, int]] = []
    started = time.monotonic()
    while time.monotonic() < deadline:
        samples.append((time.monotonic() - started, tally.answered, _rss(own_server)))
        time.sleep(min(5.0, max(0.1, deadline - time.monotonic())))
    for thread in threads:
        thread.join(60)
    samples.append((time.monotonic() - started, tally.answered, _rss(own_server)))

    warm = samples[len(samples) // 4][2]
    peak = max(rss for _, _, rss in samples[len(samples) // 4 :])
    rate = tally.answered / samples[-1][0]
    every = max(1, len(samples) // 10)
    series = ", ".join(f"{t:.0f}s {r / 2**20:.1f}" for t, _, r in samples[::every])
    print(
        f"soak: {SOAK:.0f} s, {tally.answered} requests ({rate:.0f}/s), "
        f"RSS after warm-up {warm / 2**20:.1f} MiB, peak {peak / 2**20:.1f} MiB, "
        f"end {samples[-1][2] / 2**20:.1f} MiB; RSS (MiB) over time: {series}"
    )
    assert tally.server_errors == []
    assert not tally.refused, tally.refused
    assert _settle(team) == []
    assert check_store(own_server.database_url) == []
    assert peak - warm < 64 * 2**20, "memory grew under a steady load"
