"""Several Keyhouse processes on one store act as one service: real processes, real PostgreSQL."""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from tests.integration import raw
from tests.integration.conftest import as_user, expect_error
from tests.integration.sdk import Api
from tests.integration.server import Server
from tests.integration.steps import disable, make_key, make_user, outcome

STS = "2015-04-01"


@pytest.fixture
def pg_url(fresh_pg: str) -> str:
    return fresh_pg


@pytest.fixture
def pair(pg_url: str, tmp_path: Path) -> Iterator[tuple[Server, Server]]:
    """Two independent `keyhouse serve` processes on one PostgreSQL database."""
    first = Server(pg_url, tmp_path / "master.key", tmp_path).start()
    second = Server(pg_url, tmp_path / "master.key", tmp_path).start()
    yield first, second
    first.stop()
    second.stop()


def _account(server: Server) -> dict[str, Any]:
    return server.create_account(f"i{datetime.now(UTC).strftime('%H%M%S%f')}")


def test_a_key_disabled_through_one_instance_is_refused_by_the_other_at_once(
    pair: tuple[Server, Server],
) -> None:
    one, two = pair
    account = _account(one)
    root_one = Api("v3", one.endpoint, account["AccessKeyId"], account["AccessKeySecret"])
    principal = make_user(root_one, account)
    key = make_key(root_one, principal)
    user_on_two = as_user(two, "v3", {"AccessKey": key})
    assert user_on_two.sts("GetCallerIdentity")["IdentityType"] == "RAMUser"
    disable(root_one, principal, key["AccessKeyId"])
    expect_error("InvalidAccessKeyId.Inactive", 400, user_on_two.sts, "GetCallerIdentity")


def test_permission_changes_through_one_instance_apply_on_the_other_at_once(
    pair: tuple[Server, Server],
) -> None:
    """Each instance caches a user's compiled policies; the account's grants epoch, read in
    every request's own transaction, makes a change elsewhere visible on the next request."""
    one, two = pair
    account = _account(one)
    root_one = Api("v3", one.endpoint, account["AccessKeyId"], account["AccessKeySecret"])
    make_user(root_one, account, "reader")
    key = make_key(root_one, f"reader@{account['AccountName']}.onaliyun.com")
    reader_on_two = as_user(two, "v3", {"AccessKey": key})
    expect_error("NoPermission", 403, reader_on_two.ram, "ListUsers")
    root_one.ram(
        "AttachPolicyToUser",
        UserName="reader",
        PolicyName="AliyunRAMReadOnlyAccess",
        PolicyType="System",
    )
    assert reader_on_two.ram("ListUsers")["Users"]["User"]  # cached on two from now on
    assert reader_on_two.ram("ListUsers")["Users"]["User"]
    root_one.ram("CreateGroup", GroupName="blocked")
    root_one.ram(
        "CreatePolicy",
        PolicyName="no-list",
        PolicyDocument='{"Version":"1","Statement":[{"Effect":"Deny","Action":"ram:List*",'
        '"Resource":"*"}]}',
    )
    root_one.ram(
        "AttachPolicyToGroup", GroupName="blocked", PolicyName="no-list", PolicyType="Custom"
    )
    assert reader_on_two.ram("ListUsers")["Users"]["User"]  # not a member yet
    root_one.ram("AddUserToGroup", GroupName="blocked", UserName="reader")
    expect_error("NoPermission", 403, reader_on_two.ram, "ListUsers")
    root_one.ram("RemoveUserFromGroup", GroupName="blocked", UserName="reader")
    assert reader_on_two.ram("ListUsers")["Users"]["User"]
    root_one.ram(
        "DetachPolicyFromUser",
        UserName="reader",
        PolicyName="AliyunRAMReadOnlyAccess",
        PolicyType="System",
    )
    expect_error("NoPermission", 403, reader_on_two.ram, "ListUsers")


def test_a_nonce_used_through_one_instance_is_refused_by_the_other(
    pair: tuple[Server, Server],
) -> None:
    one, two = pair
    account = _account(one)
    query = raw.rpc_query(
        account["AccessKeyId"], account["AccessKeySecret"], "GetCallerIdentity", STS
    )
    assert raw.post_rpc(one.endpoint, query)[0] == 200
    status, body = raw.post_rpc(two.endpoint, query)
    assert (status, body["Code"]) == (400, "SignatureNonceUsed")


def test_quotas_hold_when_requests_race_across_instances(pair: tuple[Server, Server]) -> None:
    one, two = pair
    account = _account(one)
    root = Api("v3", one.endpoint, account["AccessKeyId"], account["AccessKeySecret"])
    principal = make_user(root, account)

    def attempt(i: int) -> str:
        target = (one, two)[i % 2]
        client = Api("v3", target.endpoint, account["AccessKeyId"], account["AccessKeySecret"])
        return outcome(
            lambda: client.ims("CreateAccessKey", UserPrincipalName=principal), "created"
        )

    with ThreadPoolExecutor(max_workers=12) as pool:
        outcomes = list(pool.map(attempt, range(12)))
    assert outcomes.count("created") == 2, outcomes
    assert set(outcomes) == {"created", "LimitExceeded.User.AccessKey"}


def _expired_root_keys(url: str, key_file: Path, account_id: str, count: int) -> None:
    """Binned keys past their DeleteDate, written straight into the store (setup only), with
    secrets sealed under the store's real master key: the benchmark's loader."""
    from bench.dataset import load_expired

    load_expired(url, key_file, count, account_id)


def _remaining(url: str, account_id: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    text(
                        "SELECT count(*) FROM access_keys"
                        " WHERE account_id = :a AND delete_at IS NOT NULL"
                    ),
                    {"a": account_id},
                ).scalar()
                or 0
            )
    finally:
        engine.dispose()


_EVENT = re.compile(r"^(\S+) INFO keyhouse.sweep sweep (started|finished) holder=(\S+)", re.M)


def _sweeps(*servers: Server) -> list[tuple[datetime, datetime, str]]:
    """(start, end, holder) of every completed sweep in the servers' logs."""
    spans = []
    for server in servers:
        opened: dict[str, datetime] = {}
        for stamp, kind, holder in _EVENT.findall(server.stderr_path.read_text()):
            at = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ")
            if kind == "started":
                opened[holder] = at
            elif holder in opened:
                spans.append((opened.pop(holder), at, holder))
    return sorted(spans)


def test_only_one_instance_runs_the_retention_sweep_at_a_time(pg_url: str, tmp_path: Path) -> None:
    env = {"KEYHOUSE_SWEEP_INTERVAL": "0.3", "KEYHOUSE_SWEEP_LEASE": "5"}
    servers = [
        Server(pg_url, tmp_path / "master.key", tmp_path, extra_env=env).start() for _ in range(3)
    ]
    try:
        account = _account(servers[0])
        # All three are already trying every 0.3 s when the work appears.
        _expired_root_keys(pg_url, tmp_path / "master.key", account["AccountId"], 30000)
        deadline = time.monotonic() + 60
        while _remaining(pg_url, account["AccountId"]) and time.monotonic() < deadline:
            time.sleep(0.3)
        assert _remaining(pg_url, account["AccountId"]) == 0
        time.sleep(2)  # a few more rounds of every instance trying
    finally:
        for server in servers:
            server.stop()
    spans = _sweeps(*servers)
    assert len({holder for _, _, holder in spans}) >= 2, "the instances should take turns"
    for (_, end_a, a), (start_b, _, b) in itertools.pairwise(spans):
        assert start_b >= end_a, f"{b} started sweeping at {start_b} while {a} swept until {end_a}"


def test_a_sweep_interrupted_by_killing_its_instance_is_finished_by_another(
    pg_url: str, tmp_path: Path
) -> None:
    env = {"KEYHOUSE_SWEEP_INTERVAL": "0.5", "KEYHOUSE_SWEEP_LEASE": "2"}
    first = Server(pg_url, tmp_path / "master.key", tmp_path, extra_env=env).start()
    account = _account(first)
    total = 100000
    _expired_root_keys(pg_url, tmp_path / "master.key", account["AccountId"], total)
    deadline = time.monotonic() + 30
    while _remaining(pg_url, account["AccountId"]) > total - 2000 and time.monotonic() < deadline:
        time.sleep(0.05)
    first.kill()
    left = _remaining(pg_url, account["AccountId"])
    assert 0 < left < total, f"the kill should land mid-sweep ({left} left)"
    second = Server(pg_url, tmp_path / "master.key", tmp_path, extra_env=env).start()
    try:
        deadline = time.monotonic() + 90
        while _remaining(pg_url, account["AccountId"]) and time.monotonic() < deadline:
            time.sleep(0.3)
        assert _remaining(pg_url, account["AccountId"]) == 0
        assert "sweep started" in second.stderr_path.read_text()
    finally:
        second.stop()


@pytest.mark.parametrize("backend_kind", ["sqlite", "postgres"])
def test_serve_workers_runs_several_processes_on_one_port(
    backend_kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = (
        f"sqlite:///{tmp_path / 'w.db'}"
        if backend_kind == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    server = Server(url, tmp_path / "master.key", tmp_path, extra_args=("--workers", "3")).start()
    try:
        assert server.process is not None
        children = (
            Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children")
            .read_text()
            .split()
        )
        assert len(children) >= 3, children
        account = _account(server)
        root = Api("v2", server.endpoint, account["AccessKeyId"], account["AccessKeySecret"])
        principal = make_user(root, account)
        keys = {make_key(root, principal)["AccessKeyId"] for _ in range(2)}
        for _ in range(20):  # many connections: spread over the workers
            fresh = Api("v2", server.endpoint, account["AccessKeyId"], account["AccessKeySecret"])
            listed = fresh.ims("ListAccessKeys", UserPrincipalName=principal)["AccessKeys"][
                "AccessKey"
            ]
            assert {k["AccessKeyId"] for k in listed} == keys
        assert server.stderr_path.read_text().count("Started server process") >= 3
    finally:
        server.stop()
