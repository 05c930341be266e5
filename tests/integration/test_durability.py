"""What was answered survives ``kill -9``: real server processes on a real SQLite file and on
PostgreSQL, killed right after a burst, restarted on the same store."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.integration import raw
from tests.integration.conftest import upn
from tests.integration.sdk import Api
from tests.integration.server import Server
from tests.integration.test_audit import events

STS, IMS = "2015-04-01", "2019-08-15"


def _burst(server: Server, queries: list[dict[str, str]]) -> list[tuple[int, dict[str, Any]]]:
    """Send every query, eight at a time (so that batches hold several requests)."""
    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(lambda q: raw.post_rpc(server.endpoint, q), queries))


def test_answered_reads_refusals_and_changes_survive_a_kill(own_server: Server) -> None:
    account = own_server.create_account(f"d{uuid.uuid4().hex[:10]}")
    ak, sk = account["AccessKeyId"], account["AccessKeySecret"]
    reads = [raw.rpc_query(ak, sk, "GetCallerIdentity", STS) for _ in range(300)]
    wrong = [raw.rpc_query(ak, "x" * 30, "ListUsers", IMS) for _ in range(20)]
    names = [f"u{n}" for n in range(40)]
    changes = [
        raw.rpc_query(
            ak,
            sk,
            "CreateUser",
            IMS,
            {"UserPrincipalName": upn(account, name), "DisplayName": name},
        )
        for name in names
    ]
    answered = _burst(own_server, reads + wrong + changes)
    own_server.kill()  # no shutdown: nothing queued in memory gets a chance to be written
    assert [s for s, _ in answered[:300]] == [200] * 300
    assert {b["Code"] for _, b in answered[300:320]} == {"SignatureDoesNotMatch"}
    assert [s for s, _ in answered[320:]] == [200] * 40
    own_server.start()
    root = Api("v3", own_server.endpoint, ak, sk)
    # Every answered nonce is still spent: a replay of any answered request is refused.
    for query in (reads[0], reads[150], reads[-1], changes[-1]):
        status, body = raw.post_rpc(own_server.endpoint, query)
        assert (status, body["Code"]) == (400, "SignatureNonceUsed")
    # Every answered request has its event; every answered change exists.
    ids = {b["RequestId"] for _, b in answered}
    recorded = {e["requestId"] for e in events(root)}
    assert ids <= recorded, f"{len(ids - recorded)} answered requests left no event"
    users = root.ims("ListUsers", MaxItems="100")["Users"]["User"]
    assert {u["UserPrincipalName"].split("@")[0] for u in users} == set(names)
    result = own_server.cli("audit", "verify", "--account", account["AccountName"], check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_replay_inside_one_batch_is_refused(own_server: Server) -> None:
    """The same signed request sent many times at once: exactly one is answered."""
    account = own_server.create_account(f"r{uuid.uuid4().hex[:10]}")
    query = raw.rpc_query(account["AccessKeyId"], account["AccessKeySecret"], "ListUsers", IMS)
    answered = _burst(own_server, [query] * 16)
    codes = sorted(b.get("Code", "ok") for _, b in answered)
    assert codes == ["SignatureNonceUsed"] * 15 + ["ok"]


def test_the_last_used_note_of_an_answered_request_survives_a_kill(own_server: Server) -> None:
    account = own_server.create_account(f"u{uuid.uuid4().hex[:10]}")
    ak, sk = account["AccessKeyId"], account["AccessKeySecret"]
    root = Api("v3", own_server.endpoint, ak, sk)
    key = root.ims("CreateAccessKey")["AccessKey"]
    status, _ = raw.call_rpc(own_server.endpoint, key, "GetCallerIdentity", STS)
    assert status == 200
    own_server.kill()  # at once: no flush interval, no shutdown
    own_server.start()
    root = Api("v3", own_server.endpoint, ak, sk)  # the restarted server listens elsewhere
    used = root.ims("GetAccessKeyLastUsed", UserAccessKeyId=key["AccessKeyId"])
    assert used["AccessKeyLastUsed"]["LastUsedDate"], used
    assert used["AccessKeyLastUsed"]["ServiceName"].lower() == "sts"
