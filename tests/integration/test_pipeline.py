"""Reads answered from the in-process cache on the event loop, and never stale: real server
processes on a real SQLite file and on PostgreSQL (keyhouse.store.cache, docs/pipeline.md)."""

from __future__ import annotations

import json
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import sqlalchemy as sa

from tests.integration import raw
from tests.integration.conftest import upn
from tests.integration.sdk import Api
from tests.integration.server import Server
from tests.integration.test_audit import events

STS, IMS = "2015-04-01", "2019-08-15"


def _cache(server: Server) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://{server.endpoint}/healthz", timeout=10) as reply:
        figures: dict[str, Any] = json.loads(reply.read())["cache"]
    return figures


def _sql(server: Server, statement: str, **values: str) -> None:
    """A change made behind Keyhouse's back, straight in the store (as another program, or an
    instance of an older version, could)."""
    engine = sa.create_engine(server.database_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(statement), values)
    finally:
        engine.dispose()


def test_repeated_reads_are_answered_from_memory_and_each_leaves_its_event(
    own_server: Server,
) -> None:
    account = own_server.create_account(f"m{uuid.uuid4().hex[:10]}")
    ak, sk = account["AccessKeyId"], account["AccessKeySecret"]
    root = Api("v3", own_server.endpoint, ak, sk)
    name = upn(account, "cached")
    root.ims("CreateUser", UserPrincipalName=name, DisplayName="cached")
    root.ims("CreateAccessKey", UserPrincipalName=name)
    root.sts("GetCallerIdentity")  # the first reads fill the cache
    listed = root.ims("ListAccessKeys", UserPrincipalName=name)
    before = _cache(own_server)
    answers = [root.ims("ListAccessKeys", UserPrincipalName=name) for _ in range(20)]
    answers += [root.sts("GetCallerIdentity") for _ in range(20)]
    after = _cache(own_server)
    assert after["hits"] - before["hits"] >= 40, (before, after)
    assert [a["AccessKeys"] for a in answers[:20]] == [listed["AccessKeys"]] * 20
    recorded = {e["requestId"] for e in events(root)}
    assert {a["RequestId"] for a in answers} <= recorded


def test_a_change_made_straight_in_the_store_is_seen_on_the_very_next_request(
    own_server: Server,
) -> None:
    """The database bumps the account's cache epoch by trigger, whoever changes a row: a
    disabled key is refused, a key made live again answers, a new key is listed, at once."""
    account = own_server.create_account(f"s{uuid.uuid4().hex[:10]}")
    ak, sk = account["AccessKeyId"], account["AccessKeySecret"]
    root = Api("v3", own_server.endpoint, ak, sk)
    for _ in range(3):
        root.sts("GetCallerIdentity")
    keys = root.ims("ListAccessKeys")["AccessKeys"]["AccessKey"]
    _sql(own_server, "UPDATE access_keys SET status = 'Inactive' WHERE access_key_id = :k", k=ak)
    status, body = raw.call_rpc(own_server.endpoint, account, "GetCallerIdentity", STS)
    assert (status, body["Code"]) == (400, "InvalidAccessKeyId.Inactive")
    _sql(own_server, "UPDATE access_keys SET status = 'Active' WHERE access_key_id = :k", k=ak)
    assert root.sts("GetCallerIdentity")["AccountId"] == account["AccountId"]
    created = root.ims("CreateAccessKey")["AccessKey"]["AccessKeyId"]
    listed = root.ims("ListAccessKeys")["AccessKeys"]["AccessKey"]
    assert [k["AccessKeyId"] for k in listed] == [k["AccessKeyId"] for k in keys] + [created]
    _sql(own_server, "DELETE FROM access_keys WHERE access_key_id = :k", k=created)
    listed = root.ims("ListAccessKeys")["AccessKeys"]["AccessKey"]
    assert [k["AccessKeyId"] for k in listed] == [k["AccessKeyId"] for k in keys]


def test_a_last_used_note_does_not_drop_what_is_cached(own_server: Server) -> None:
    """The last-used note is written for every batch of requests: it is left out of the
    epoch, or nothing would ever stay cached."""
    account = own_server.create_account(f"l{uuid.uuid4().hex[:10]}")
    root = Api("v3", own_server.endpoint, account["AccessKeyId"], account["AccessKeySecret"])
    root.sts("GetCallerIdentity")
    _sql(
        own_server,
        "UPDATE access_keys SET last_used_service = 'Ims' WHERE access_key_id = :k",
        k=account["AccessKeyId"],
    )
    before = _cache(own_server)
    for _ in range(10):
        root.sts("GetCallerIdentity")
    after = _cache(own_server)
    assert after["hits"] - before["hits"] >= 10
    assert after["misses"] == before["misses"]


def test_a_replay_of_a_read_answered_from_memory_is_refused_within_one_batch(
    own_server: Server,
) -> None:
    account = own_server.create_account(f"b{uuid.uuid4().hex[:10]}")
    ak, sk = account["AccessKeyId"], account["AccessKeySecret"]
    Api("v3", own_server.endpoint, ak, sk).sts("GetCallerIdentity")  # cached from here on
    query = raw.rpc_query(ak, sk, "GetCallerIdentity", STS)
    with ThreadPoolExecutor(16) as pool:
        answered = list(pool.map(lambda q: raw.post_rpc(own_server.endpoint, q), [query] * 16))
    codes = sorted(b.get("Code", "ok") for _, b in answered)
    assert codes == ["SignatureNonceUsed"] * 15 + ["ok"]
