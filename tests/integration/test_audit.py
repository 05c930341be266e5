"""The audit trail through the official SDKs and the CLI: one event per request, LookupEvents,
changes that cannot be audited do not happen, tampering is found, and the operator's views."""

from __future__ import annotations

import base64
import csv
import getpass
import hashlib
import io
import json
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy import create_engine, text

from tests.integration.conftest import expect_error, upn
from tests.integration.raw import call_rpc, rpc_query, send
from tests.integration.sdk import Api
from tests.integration.server import Server
from tests.integration.steps import bin_key, disable, events, eventually, make_key, make_user

IMS = "2019-08-15"


def test_every_request_leaves_one_event(server: Server, root: Api, account: dict[str, Any]) -> None:
    principal = make_user(root, account, "alice")
    created = make_key(root, principal)
    alice = Api("v3", server.endpoint, created["AccessKeyId"], created["AccessKeySecret"])
    listed = root.ims("ListAccessKeys", UserPrincipalName=principal)
    expect_error("NoPermission", 403, alice.ims, "ListUsers")
    disable(root, principal, created["AccessKeyId"])
    status, refused = call_rpc(server.endpoint, created, "GetCallerIdentity", "2015-04-01")
    assert status == 400

    # The change's event: written with the change, secrets left out.
    made = events(root, EventName="CreateAccessKey")
    assert len(made) == 1
    event = made[0]
    assert event["eventRW"] == "Write" and event["serviceName"] == "Ims"
    assert event["userIdentity"]["type"] == "root-account"
    assert event["userIdentity"]["accessKeyId"] == account["AccessKeyId"]
    assert event["userIdentity"]["accountId"] == root.sts("GetCallerIdentity")["AccountId"]
    assert event["sourceIpAddress"] == "127.0.0.1"
    assert event["userAgent"]
    assert event["requestParameters"] == {"UserPrincipalName": principal}
    assert event["responseElements"]["AccessKeyId"] == created["AccessKeyId"]
    assert created["AccessKeySecret"] not in json.dumps(event)
    assert event["errorCode"] is None and event["eventId"] and event["eventTime"]

    # A read: its RequestId is the one the caller got.
    reads = eventually(lambda: events(root, EventName="ListAccessKeys"))
    assert [e["requestId"] for e in reads] == [listed["RequestId"]]
    assert reads[0]["eventRW"] == "Read"

    # A refusal, by the user: in the account's trail, with the code.
    denied = eventually(lambda: events(root, EventName="ListUsers", User="alice"))
    assert denied[0]["errorCode"] == "NoPermission"
    assert denied[0]["userIdentity"]["type"] == "ram-user"
    # An authentication failure with a known (disabled) key goes to that key's account.
    failed = eventually(lambda: events(root, EventAccessKeyId=created["AccessKeyId"]))
    refusal = [e for e in failed if e["errorCode"] == "InvalidAccessKeyId.Inactive"]
    assert refusal and refusal[0]["requestId"] == refused["RequestId"]
    assert refusal[0]["userIdentity"]["userName"] == "alice"
    for e in events(root):
        assert "Signature" not in e["requestParameters"]
        assert "SignatureNonce" not in e["requestParameters"]


def test_lookup_by_each_attribute_time_range_and_paging(root: Api, account: dict[str, Any]) -> None:
    principal = make_user(root, account, "bob")
    key = make_key(root, principal)["AccessKeyId"]
    for _ in range(4):
        root.ims("GetUser", UserPrincipalName=principal)
    everything = eventually(lambda: len(events(root)) >= 7 and events(root))
    by_id = {e["eventId"]: e for e in everything}
    gets = events(root, EventName="GetUser")
    assert len(gets) == 4
    assert {e["eventId"] for e in events(root, EventRW="Write")} == {
        e["eventId"] for e in everything if e["eventRW"] == "Write"
    }
    assert len(events(root, EventRW="Write")) >= 2  # CreateUser, CreateAccessKey
    one = gets[0]
    assert events(root, EventId=one["eventId"]) == [by_id[one["eventId"]]]
    assert {e["eventName"] for e in events(root, ServiceName="Sts")} <= {"GetCallerIdentity"}
    # Every lookup leaves its own event at once: compare what existed before them.
    mine = {e["eventId"] for e in events(root, User="root")}
    roots = {i for i, e in by_id.items() if e["userIdentity"]["userName"] == "root"}
    operators = {i for i, e in by_id.items() if e["userIdentity"]["type"] == "operator"}
    assert roots | operators == set(by_id)  # the account's creation was the operator's
    assert (
        mine >= roots
        and not mine & operators
        and all(e["eventName"] == "LookupEvents" for e in events(root) if e["eventId"] not in by_id)
    )
    assert {e["eventName"] for e in events(root, ResourceName=key)} == {"CreateAccessKey"}
    assert len(events(root, ResourceName="bob")) >= 6
    assert events(root, EventAccessKeyId=account["AccessKeyId"])
    # paging: two at a time, newest first, no event twice
    seen, token, pages = [], None, 0
    while True:
        params: dict[str, Any] = {"MaxResults": 2}
        if token:
            params["NextToken"] = token
        page = root.trail("LookupEvents", **params)
        seen += [e["eventId"] for e in page["Events"]]
        pages += 1
        token = page.get("NextToken")
        if not token:
            break
    assert len(seen) == len(set(seen)) >= len(everything) and pages >= 4
    times = [by_id[i]["eventTime"] for i in seen if i in by_id]
    assert times == sorted(times, reverse=True)
    forward = root.trail("LookupEvents", Direction="Forward", MaxResults=50)["Events"]
    assert [e["eventTime"] for e in forward] == sorted(e["eventTime"] for e in forward)
    # time range: nothing before the account existed, nothing in the future
    empty = root.trail(
        "LookupEvents", StartTime="2020-01-01T00:00:00Z", EndTime="2020-01-02T00:00:00Z"
    )
    assert empty["Events"] == []
    assert root.trail("LookupEvents", StartTime="2020-01-01T00:00:00Z")["Events"]
    expect_error(
        "InvalidParameter.LookupAttribute",
        400,
        root.trail,
        "LookupEvents",
        LookupAttribute=[{"Key": "Nope", "Value": "x"}],
    )


@contextmanager
def failing_audit(server: Server, account_id: str, event_name: str) -> Iterator[None]:
    """A database trigger that refuses audit events of one action in one account."""
    engine = create_engine(server.database_url)
    sqlite = engine.dialect.name == "sqlite"
    with engine.begin() as conn:
        if sqlite:
            conn.execute(
                text(
                    "CREATE TRIGGER audit_down BEFORE INSERT ON audit_events "
                    f"WHEN NEW.event_name = '{event_name}' AND NEW.account_id = '{account_id}' "
                    "BEGIN SELECT RAISE(ABORT, 'audit store down'); END"
                )
            )
        else:
            conn.execute(
                text(
                    "CREATE FUNCTION audit_down() RETURNS trigger AS $$ BEGIN "
                    f"IF NEW.event_name = '{event_name}' AND NEW.account_id = '{account_id}' "
                    "THEN RAISE EXCEPTION 'audit store down'; END IF; RETURN NEW; END $$ "
                    "LANGUAGE plpgsql"
                )
            )
            conn.execute(
                text(
                    "CREATE TRIGGER audit_down BEFORE INSERT ON audit_events "
                    "FOR EACH ROW EXECUTE FUNCTION audit_down()"
                )
            )
    try:
        yield
    finally:
        with engine.begin() as conn:
            if sqlite:
                conn.execute(text("DROP TRIGGER audit_down"))
            else:
                conn.execute(text("DROP TRIGGER audit_down ON audit_events"))
                conn.execute(text("DROP FUNCTION audit_down()"))
        engine.dispose()


def test_a_change_whose_event_cannot_be_written_does_not_happen(
    server: Server, root: Api, account: dict[str, Any]
) -> None:
    account_id = root.sts("GetCallerIdentity")["AccountId"]
    with failing_audit(server, account_id, "CreateUser"):
        # Neither the change nor its refusal can be recorded: "try again later".
        expect_error(
            "ServiceUnavailable",
            503,
            root.ims,
            "CreateUser",
            UserPrincipalName=upn(account, "ghost"),
            DisplayName="ghost",
        )
    expect_error(
        "EntityNotExist.User", 404, root.ims, "GetUser", UserPrincipalName=upn(account, "ghost")
    )
    principal = make_user(root, account, "ghost")  # works again once the trail does
    assert root.ims("GetUser", UserPrincipalName=principal)["User"]["DisplayName"] == "ghost"
    # A read is not answered without its event: while the store refuses the event, the read
    # is refused (503); the refusal's own event is kept and written once the store takes it.
    with failing_audit(server, account_id, "ListUsers"):
        expect_error("ServiceUnavailable", 503, root.ims, "ListUsers")
    found = eventually(lambda: events(root, EventName="ListUsers"))
    assert [e["errorCode"] for e in found] == ["ServiceUnavailable"]
    listed = root.ims("ListUsers")
    found = eventually(
        lambda: (
            len(events(root, EventName="ListUsers")) == 2 and events(root, EventName="ListUsers")
        )
    )
    assert listed["RequestId"] in [e["requestId"] for e in found]


def _verify(server: Server, name: str) -> tuple[int, str]:
    result = server.cli("audit", "verify", "--account", name, check=False)
    return result.returncode, result.stdout + result.stderr


@pytest.mark.parametrize("tamper", ["edit", "delete", "insert", "reorder", "truncate", "rechain"])
def test_audit_verify_finds_tampering(server: Server, tamper: str) -> None:
    account = server.create_account(f"v{uuid.uuid4().hex[:12]}")
    root = Api("v3", server.endpoint, account["AccessKeyId"], account["AccessKeySecret"])
    account_id = root.sts("GetCallerIdentity")["AccountId"]
    for n in range(3):
        make_user(root, account, f"u{n}")
    eventually(lambda: len(events(root)) >= 4)
    code, out = _verify(server, account["AccountName"])
    assert code == 0 and "The audit trail is intact." in out
    engine = create_engine(server.database_url)
    where = f"account_id = '{account_id}'"
    with engine.begin() as conn:
        rows = conn.execute(
            text(
                f"SELECT seq, event_id, body, prev_hash, hash FROM audit_events WHERE {where} "
                "ORDER BY seq"
            )
        ).fetchall()
        second, third = rows[1], rows[2]
        if tamper == "edit":
            flip = {
                '"eventRW":"Write"': '"eventRW":"Read"',
                '"eventRW":"Read"': '"eventRW":"Write"',
            }
            was = next(k for k in flip if k in second.body)
            forged = second.body.replace(was, flip[was])
            assert forged != second.body
            conn.execute(
                text(f"UPDATE audit_events SET body = :b WHERE {where} AND seq = :s"),
                {"b": forged, "s": second.seq},
            )
            bad = second
        elif tamper == "delete":
            conn.execute(
                text(f"DELETE FROM audit_events WHERE {where} AND seq = :s"), {"s": second.seq}
            )
            bad = third
        elif tamper == "insert":
            conn.execute(
                text(f"UPDATE audit_events SET seq = seq + 1000 WHERE {where} AND seq >= :s"),
                {"s": second.seq},
            )
            conn.execute(
                text(f"UPDATE audit_events SET seq = seq - 999 WHERE {where} AND seq >= 1000"),
            )
            conn.execute(
                text(
                    "INSERT INTO audit_events (account_id, seq, event_id, event_time, event_name,"
                    " event_rw, service_name, access_key_id, user_name, source_ip, error_code,"
                    " resources, body, prev_hash, hash) SELECT account_id, :s, 'forged-event',"
                    " event_time, event_name, event_rw, service_name, access_key_id, user_name,"
                    " source_ip, error_code, resources, body, prev_hash, hash FROM audit_events"
                    f" WHERE {where} AND seq = :src"
                ),
                {"s": second.seq, "src": second.seq + 1},
            )
            bad = second
        elif tamper == "reorder":
            conn.execute(
                text(f"UPDATE audit_events SET seq = -1 WHERE {where} AND seq = :a"),
                {"a": second.seq},
            )
            conn.execute(
                text(f"UPDATE audit_events SET seq = :a WHERE {where} AND seq = :b"),
                {"a": second.seq, "b": third.seq},
            )
            conn.execute(
                text(f"UPDATE audit_events SET seq = :b WHERE {where} AND seq = -1"),
                {"b": third.seq},
            )
            bad = second
        elif tamper == "rechain":
            # What someone who can write to the database would do: edit an event, recompute
            # every hash after it (the unkeyed SHA-256 chain of before) and move the head.
            previous = rows[0].hash
            for row in rows[1:]:
                body = row.body
                if row.seq == second.seq:
                    body = body.replace('"eventRW":"Read"', '"eventRW":"Write"')
                    assert body != row.body
                digest = hashlib.sha256(
                    f"{account_id}\n{row.seq}\n{previous}\n{body}".encode()
                ).hexdigest()
                conn.execute(
                    text(
                        f"UPDATE audit_events SET body = :b, prev_hash = :p, hash = :h "
                        f"WHERE {where} AND seq = :s"
                    ),
                    {"b": body, "p": previous, "h": digest, "s": row.seq},
                )
                previous = digest
            conn.execute(text(f"UPDATE audit_heads SET hash = :h WHERE {where}"), {"h": previous})
            bad = second
        else:  # truncate: the newest event removed
            last = rows[-1]
            conn.execute(
                text(f"DELETE FROM audit_events WHERE {where} AND seq = :s"), {"s": last.seq}
            )
            bad = last
    engine.dispose()
    code, out = _verify(server, account["AccountName"])
    assert code == 1, out
    assert f"event {bad.seq}" in out, out
    if tamper in {"edit", "rechain"}:
        assert bad.event_id in out


def test_whois_attempts_and_simulate(
    server: Server, root: Api, account: dict[str, Any], tmp_path: Path
) -> None:
    principal = make_user(root, account, "carol")
    live = make_key(root, principal)
    binned = make_key(root, principal)
    for source in ("127.0.0.1", "127.0.0.2", "127.0.0.2"):
        assert (
            call_rpc(server.endpoint, live, "GetCallerIdentity", "2015-04-01", source=source)[0]
            == 200
        )
    time.sleep(1.5)  # last-used and the buffered events are written
    out = server.cli("whois", live["AccessKeyId"]).stdout
    assert account["AccountName"] in out and "carol" in out and "Active" in out
    assert "127.0.0.2" in out and "sts" in out
    # acl simulate: a policy for 127.0.0.1 only would have refused the two calls from .2
    policy = tmp_path / "policy.json"
    policy.write_text(
        json.dumps(
            {
                "Version": 1,
                "Status": "Active",
                "Statements": [{"Type": "ClassicWhiteList", "IPList": ["127.0.0.1"]}],
            }
        )
    )
    simulated = server.cli("acl", "simulate", live["AccessKeyId"], "--policy", str(policy)).stdout
    assert simulated.count("127.0.0.2") == 2 and "GetCallerIdentity" in simulated
    # attempts with a disabled, then binned, then purged key
    bin_key(root, principal, binned["AccessKeyId"])
    call_rpc(server.endpoint, binned, "ListUsers", IMS, source="127.0.0.2")
    user_id = root.ims("GetUser", UserPrincipalName=principal)["User"]["UserId"]
    root.ims("DeleteAccessKeyInRecycleBin", UserId=user_id, UserAccessKeyId=binned["AccessKeyId"])
    call_rpc(server.endpoint, binned, "GetCallerIdentity", "2015-04-01", source="127.0.0.2")
    time.sleep(1.5)
    attempts = server.cli("key", "attempts", binned["AccessKeyId"], "--json").stdout.splitlines()
    seen = [json.loads(line) for line in attempts]
    assert [(e["eventName"], e["sourceIpAddress"]) for e in seen] == [
        ("GetCallerIdentity", "127.0.0.2"),
        ("ListUsers", "127.0.0.2"),
    ]
    assert {e["errorCode"] for e in seen} == {"InvalidAccessKeyId.NotFound"}
    purged = server.cli("whois", binned["AccessKeyId"]).stdout
    assert "purged" in purged and account["AccountName"] in purged and "carol" in purged
    unknown = server.cli("whois", "LTAI" + "Z" * 20, check=False)
    assert unknown.returncode == 1


def test_credential_report(root: Api, account: dict[str, Any]) -> None:
    expect_error("EntityNotExist.CredentialReport", 404, root.ims, "GetCredentialReport")
    for name in ("dora", "eve"):
        principal = make_user(root, account, name)
        make_key(root, principal)
    assert root.ims("GenerateCredentialReport")["State"] == "STARTED"
    assert root.ims("GenerateCredentialReport")["State"] == "COMPLETED"
    report = root.ims("GetCredentialReport")
    assert report["IsTruncated"] == "false" and report["GeneratedTime"].endswith("Z")
    rows = list(csv.DictReader(io.StringIO(base64.b64decode(report["Content"]).decode())))
    # The vendor's columns: the user's principal name, TRUE/FALSE, N/A and "-" (never).
    users = ["<root>", upn(account, "dora"), upn(account, "eve")]
    assert [r["user"] for r in rows] == users
    assert list(rows[0])[:8] == [
        "user",
        "user_creation_time",
        "user_last_logon",
        "password_exist",
        "password_active",
        "password_last_changed",
        "password_next_rotation",
        "mfa_active",
    ]
    assert "additional_access_key_3_last_used" in rows[0]
    assert rows[0]["access_key_1_exist"] == "TRUE" and rows[0]["access_key_1_active"] == "TRUE"
    assert rows[1]["access_key_1_active"] == "TRUE" and rows[1]["access_key_2_exist"] == "FALSE"
    assert rows[1]["access_key_2_active"] == "N/A"
    assert rows[1]["access_key_1_last_used"] == "N/A"
    assert rows[1]["user_last_logon"] == "-" and rows[1]["password_exist"] == "FALSE"
    assert rows[0]["password_exist"] == "FALSE" and rows[0]["mfa_active"] == "FALSE"
    first = root.ims("GetCredentialReport", MaxItems="2")
    assert first["IsTruncated"] == "true" and first["NextToken"]
    rest = root.ims("GetCredentialReport", MaxItems="2", NextToken=first["NextToken"])
    assert rest["IsTruncated"] == "false"
    paged = [
        r["user"]
        for page in (first, rest)
        for r in csv.DictReader(io.StringIO(base64.b64decode(page["Content"]).decode()))
    ]
    assert paged == users


def test_no_secret_in_the_trail_the_export_or_the_logs(
    server: Server, root: Api, account: dict[str, Any]
) -> None:
    secrets = []
    for name in ("fay", "gus"):
        principal = make_user(root, account, name)
        created = make_key(root, principal)
        secrets.append(created["AccessKeySecret"])
        user = Api("v2", server.endpoint, created["AccessKeyId"], created["AccessKeySecret"])
        user.sts("GetCallerIdentity")
        expect_error("NoPermission", 403, user.ims, "ListUsers")
    secrets.append(account["AccessKeySecret"])
    time.sleep(1.5)
    exported = server.cli("audit", "export", "--since", "2020-01-01T00:00:00Z").stdout
    assert len(exported.splitlines()) >= 10
    for line in exported.splitlines():
        json.loads(line)
    trail = json.dumps(events(root))
    for secret in secrets:
        assert secret not in exported
        assert secret not in trail
        assert secret not in server.logs()


def test_retention_drops_old_events_and_the_chain_still_verifies(tmp_path: Path) -> None:
    """On a server of its own: the sweep as of 401 days from now drops every event so far."""
    srv = Server(f"sqlite:///{tmp_path / 'k.db'}", tmp_path / "master.key", tmp_path).start()
    try:
        account = srv.create_account(f"r{uuid.uuid4().hex[:10]}")
        root = Api("v3", srv.endpoint, account["AccessKeyId"], account["AccessKeySecret"])
        make_user(root, account, "old")
        eventually(lambda: len(events(root)) >= 2)
        before = len(events(root))
        later = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 401 * 86400))
        srv.cli("purge", "--as-of", later, "--yes")
        # Only the lookups themselves remain (buffered, some written after the sweep). One
        # snapshot: two successive lookups differ by the first one's own event.
        remaining = events(root)
        assert all(e["eventName"] == "LookupEvents" for e in remaining), remaining
        assert before >= 2
        out = srv.cli("audit", "verify", "--account", account["AccountName"]).stdout
        assert "intact" in out
        make_user(root, account, "new")  # the chain goes on from where retention cut it
        assert "intact" in srv.cli("audit", "verify").stdout
    finally:
        srv.stop()


def test_the_operators_commands_leave_events_that_name_the_operator(server: Server) -> None:
    """Every CLI command that acts on an account is one event in that account's trail, by
    the operator (OS user and host), with the wire action's name where there is one."""
    account = server.create_account(f"op{uuid.uuid4().hex[:10]}")
    name = account["AccountName"]
    root = Api("v3", server.endpoint, account["AccessKeyId"], account["AccessKeySecret"])
    server.cli("account", "update", "--name", name, "--key-deletion", "immediate")
    server.cli("account", "set-password", "--name", name, input="Owner-Passw0rd\n")
    server.cli("account", "show", "--name", name)
    created = json.loads(server.cli("account", "new-root-key", "--name", name, "--json").stdout)
    server.cli("key", "protect", created["AccessKeyId"], "--reason", "found in a paste")
    server.cli("key", "unprotect", created["AccessKeyId"])
    server.cli("whois", created["AccessKeyId"])
    refused = server.cli("account", "set-password", "--name", name, input="weak\n", check=False)
    assert refused.returncode == 1
    by_operator = [e for e in events(root) if e["userIdentity"]["type"] == "operator"]
    by_operator.sort(key=lambda e: (e["eventTime"], e["eventId"]))
    names = [e["eventName"] for e in by_operator]
    assert sorted(names) == sorted(
        [
            "CreateAccount",
            "SetSecurityPreference",
            "SetAccountPassword",
            "GetAccount",
            "CreateAccessKey",
            "ProtectAccessKey",
            "UnprotectAccessKey",
            "WhoIs",
            "SetAccountPassword",
        ]
    )
    me = f"{getpass.getuser()}@{socket.gethostname()}"
    for event in by_operator:
        assert event["userIdentity"]["userName"] == me
        assert event["userIdentity"]["accountId"] == account["AccountId"]
        assert event["eventType"] == "OperatorCommand"
    writes = {e["eventName"] for e in by_operator if e["eventRW"] == "Write"}
    assert writes == {
        "CreateAccount",
        "SetSecurityPreference",
        "SetAccountPassword",
        "CreateAccessKey",
        "ProtectAccessKey",
        "UnprotectAccessKey",
    }
    failed = [e for e in by_operator if e.get("errorCode")]
    assert [(e["eventName"], e["errorCode"]) for e in failed] == [
        ("SetAccountPassword", "InvalidParameter.Password.TooWeak")
    ]
    protect = next(e for e in by_operator if e["eventName"] == "ProtectAccessKey")
    assert protect["requestParameters"]["UserAccessKeyId"] == created["AccessKeyId"]
    assert "Owner-Passw0rd" not in json.dumps(by_operator)
    # LookupEvents finds the operator's change by the key it concerned.
    found = events(root, ResourceName=created["AccessKeyId"])
    assert {"ProtectAccessKey", "UnprotectAccessKey"} <= {e["eventName"] for e in found}


def test_one_event_is_at_most_16_kib_however_the_request_was_built(
    server: Server, root: Api, account: dict[str, Any]
) -> None:
    """A failed signature's message carries the string to sign; 1 MB of parameters signed with
    a junk secret against a public AccessKey ID must not store 1 MB in its owner's trail."""
    junk = {"AccessKeyId": account["AccessKeyId"], "AccessKeySecret": "junk"}
    params = {f"Param{n:03}": "x" * 6000 for n in range(150)}
    query = rpc_query(junk["AccessKeyId"], "junk", "ListUsers", IMS, params)
    body = urlencode(query).encode()
    assert len(body) > 900_000
    for _ in range(3):
        status, reply = send(
            server.endpoint,
            "POST",
            "/",
            {"host": server.endpoint, "content-type": "application/x-www-form-urlencoded"},
            body,
        )
        assert (status, reply["Code"]) == (400, "SignatureDoesNotMatch"), reply
    refused = eventually(lambda: events(root, EventName="ListUsers"))
    assert len(refused) == 3
    message = refused[0]["errorMessage"]
    assert "string to sign" in message and "[cut: " in message and len(message) < 1200
    engine = create_engine(server.database_url)
    try:
        with engine.connect() as conn:
            sizes = conn.execute(
                text(
                    "SELECT length(body) + length(resources) + length(event_id) "
                    "+ length(event_name) + coalesce(length(error_code), 0) "
                    "+ length(source_ip) FROM audit_events WHERE account_id = :a"
                ),
                {"a": root.sts("GetCallerIdentity")["AccountId"]},
            ).scalars()
            assert max(sizes) <= 16 * 1024
    finally:
        engine.dispose()
    assert refused[0]["additionalEventData"]["requestParametersTruncated"] is True


def _legacy_chains(conn: Any) -> None:
    """Rewrite every chain as a store of before revision 0010 held it: plain SHA-256, no key."""
    conn.execute(text("DELETE FROM store_keys"))
    heads = conn.execute(text("SELECT account_id, pruned_seq, pruned_hash FROM audit_heads"))
    for account_id, _, pruned_hash in heads.fetchall():
        previous = pruned_hash
        rows = conn.execute(
            text("SELECT seq, body FROM audit_events WHERE account_id = :a ORDER BY seq"),
            {"a": account_id},
        ).fetchall()
        for seq, body in rows:
            digest = hashlib.sha256(f"{account_id}\n{seq}\n{previous}\n{body}".encode()).hexdigest()
            conn.execute(
                text(
                    "UPDATE audit_events SET prev_hash = :p, hash = :h "
                    "WHERE account_id = :a AND seq = :s"
                ),
                {"p": previous, "h": digest, "a": account_id, "s": seq},
            )
            previous = digest
        conn.execute(
            text("UPDATE audit_heads SET hash = :h WHERE account_id = :a"),
            {"h": previous, "a": account_id},
        )


def test_chains_written_before_keyed_chains_are_checked_then_re_keyed(own_server: Server) -> None:
    """The first start after the upgrade re-keys every unkeyed chain it can check; a chain
    someone edited before the upgrade is not laundered: it stays broken where it was."""
    good = own_server.create_account("kept")
    bad = own_server.create_account("edited")
    for account in (good, bad):
        root = Api("v3", own_server.endpoint, account["AccessKeyId"], account["AccessKeySecret"])
        for n in range(3):
            make_user(root, account, f"u{n}")
        eventually(lambda r=root: len(events(r)) >= 4)
    bad_id = Api("v3", own_server.endpoint, bad["AccessKeyId"], bad["AccessKeySecret"]).sts(
        "GetCallerIdentity"
    )["AccountId"]
    own_server.stop()
    engine = create_engine(own_server.database_url)
    with engine.begin() as conn:
        _legacy_chains(conn)
        edited = conn.execute(
            text("SELECT seq, event_id, body FROM audit_events WHERE account_id = :a AND seq = 3"),
            {"a": bad_id},
        ).one()
        conn.execute(
            text("UPDATE audit_events SET body = :b WHERE account_id = :a AND seq = 3"),
            {"b": edited.body.replace('"u', '"x', 1), "a": bad_id},
        )
    engine.dispose()
    own_server.start()
    assert "audit chains re-keyed" in own_server.logs()
    code, out = _verify(own_server, "kept")
    assert code == 0 and "intact" in out, out
    code, out = _verify(own_server, "edited")
    assert code == 1 and f"event 3 {edited.event_id}" in out, out
    root = Api("v3", own_server.endpoint, good["AccessKeyId"], good["AccessKeySecret"])
    make_user(root, good, "after")  # the re-keyed chain goes on
    code, out = _verify(own_server, "kept")
    assert code == 0, out


def test_whois_and_scan_agree_about_a_purged_key_someone_tried_later(
    server: Server, root: Api, account: dict[str, Any], tmp_path: Path
) -> None:
    principal = make_user(root, account, "dave")
    key = make_key(root, principal)
    bin_key(root, principal, key["AccessKeyId"])
    user_id = root.ims("GetUser", UserPrincipalName=principal)["User"]["UserId"]
    root.ims("DeleteAccessKeyInRecycleBin", UserId=user_id, UserAccessKeyId=key["AccessKeyId"])
    status, _ = call_rpc(server.endpoint, key, "ListUsers", IMS, source="127.0.0.2")
    assert status == 404 or status == 400
    account_id = root.sts("GetCallerIdentity")["AccountId"]
    eventually(lambda: server.cli("key", "attempts", key["AccessKeyId"], "--json").stdout)
    out = server.cli("whois", key["AccessKeyId"]).stdout
    assert f"{account['AccountName']} ({account_id})" in out, out
    assert "(deleted account)" not in out and "dave" in out and "purged" in out
    assert "Last refused" in out and "127.0.0.2" in out and "InvalidAccessKeyId.NotFound" in out
    whois = eventually(lambda: events(root, EventName="WhoIs"))
    assert whois and all(e["recipientAccountId"] == account_id for e in whois)
    leaked = tmp_path / "config.ini"
    leaked.write_text(f"access_key_id = {key['AccessKeyId']}\n")
    found = json.loads(server.cli("scan", str(leaked), "--json").stdout)
    assert [(f["status"], f["owner"]) for f in found] == [
        ("purged", f"{account['AccountName']}/dave")
    ]
