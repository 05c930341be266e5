"""What an attacker, a real client and a new user found (issue 10), each through the real wire:
the audit trail against hostile fields and floods, bounded requests, where a request comes
from, authorization of two-resource actions, IDs that cannot be probed, and the vendor's
spellings."""

from __future__ import annotations

import base64
import json
import re
import socket
import time
import uuid
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.integration import raw
from tests.integration.conftest import expect_error, upn
from tests.integration.sdk import Api, ApiError
from tests.integration.server import Server
from tests.integration.steps import disable, eventually, make_key, make_user, user_id_of
from tests.integration.test_audit import events, failing_audit

IMS = "2019-08-15"
RAM = "2015-05-01"
STS = "2015-04-01"


def root_key(account: dict[str, Any]) -> dict[str, str]:
    return {"AccessKeyId": account["AccessKeyId"], "AccessKeySecret": account["AccessKeySecret"]}


def health(server: Server) -> dict[str, Any]:
    _, body = raw.send(server.endpoint, "GET", "/healthz", {"host": server.endpoint})
    return body


def doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "1", "Statement": list(statements)})


def user_with_policy(
    root: Api, account: dict[str, Any], server: Server, name: str, *statements: dict[str, Any]
) -> tuple[Api, dict[str, Any]]:
    """A RAM user with one custom policy of these statements; its client and key."""
    principal = make_user(root, account, name)
    key = make_key(root, principal)
    if statements:
        root.ram("CreatePolicy", PolicyName=f"{name}-policy", PolicyDocument=doc(*statements))
        root.ram(
            "AttachPolicyToUser", UserName=name, PolicyName=f"{name}-policy", PolicyType="Custom"
        )
    return Api("v3", server.endpoint, key["AccessKeyId"], key["AccessKeySecret"]), key


# -- 1. the trail against hostile fields ---------------------------------------------------


def _console_sign_in(server: Server, name: str) -> int:
    from tests.integration.browserless import ConsoleClient

    return ConsoleClient(server.endpoint).sign_in(name, "Wrong-passw0rd").status


def test_nul_characters_and_overlong_fields_never_stop_the_trail(
    server: Server, root: Api, account: dict[str, Any]
) -> None:
    endpoint = server.endpoint
    stranger = ("LTAI" + "x" * 20, "s" * 30)
    for action in ("Get\x00CallerIdentity", "A" * 300):
        status, body = raw.post_rpc(endpoint, raw.rpc_query(*stranger, action, STS))
        assert status == 404 and body["Code"] == "InvalidAction.NotFound", body
    status, body = raw.call_rpc(endpoint, root_key(account), "GetUser", IMS, {"UserName": "a\x00b"})
    assert status == 400, body
    name = "\x00" + "n" * 500
    status, body = raw.call_rpc(endpoint, root_key(account), "GetUser", RAM, {"UserName": name})
    assert status == 400, body
    assert _console_sign_in(server, "c" * 400 + "\x00") == 401
    # A later request's event is still written: the writer was not stopped by the ones above.
    listed = root.ims("ListUsers")
    found = eventually(lambda: events(root, EventName="ListUsers"))
    assert [e["requestId"] for e in found] == [listed["RequestId"]]
    refused = eventually(lambda: events(root, EventName="GetUser"))
    assert len(refused) == 2 and all(e["errorCode"] for e in refused)
    # The event keeps what was sent (JSON escapes the NUL); only indexed columns replace it.
    assert sorted(e["requestParameters"]["UserName"] for e in refused) == [name, "a\x00b"]
    assert health(server)["trail"]["writable"] is True
    result = server.cli("audit", "verify", "--account", account["AccountName"], check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_an_event_the_store_refuses_is_set_aside_and_the_trail_goes_on(
    own_server: Server,
) -> None:
    account = own_server.create_account(f"a{uuid.uuid4().hex[:10]}")
    root = Api("v3", own_server.endpoint, account["AccessKeyId"], account["AccessKeySecret"])
    account_id = root.sts("GetCallerIdentity")["AccountId"]
    with failing_audit(own_server, account_id, "ListUsers"):
        # Not answered without its event: refused instead, and the answer's event set aside.
        expect_error("ServiceUnavailable", 503, root.ims, "ListUsers")
        assert health(own_server)["trail"]["setAside"] == 1
        root.ims("GetDefaultDomain")  # the trail goes on for everything else
        assert eventually(lambda: events(root, EventName="GetDefaultDomain"))
        # The 503's own event is retried, then set aside too (after 1 s here).
        assert eventually(lambda: health(own_server)["trail"]["setAside"] == 2, 15)
    assert health(own_server)["trail"]["writable"] is True
    assert own_server.logs().count("is set aside") == 2
    root.ims("ListUsers")  # the same action works again
    assert eventually(lambda: len(events(root, EventName="ListUsers")) == 1)


# -- 3. bounded events, bounded requests ----------------------------------------------------


def test_a_flood_of_unauthenticated_requests_costs_the_store_a_bounded_amount(
    own_server: Server,
) -> None:
    endpoint = own_server.endpoint
    form = urlencode({f"P{i}": "v" * 8192 for i in range(40)}).encode()
    flood = 200
    for _ in range(flood):
        query = raw.rpc_query("LTAI" + "z" * 20, "s" * 30, "GetCallerIdentity", STS)
        status, _ = raw.send(
            endpoint,
            "POST",
            "/?" + urlencode(query),
            {"host": endpoint, "content-type": "application/x-www-form-urlencoded"},
            form,
            source="127.0.0.2",
        )
        assert status == 404
    own_server.stop()  # a clean stop writes what is queued, and the summaries
    exported = own_server.cli("audit", "export", "--since", "2000-01-01T00:00:00Z").stdout
    mine = [
        json.loads(line)
        for line in exported.splitlines()
        if json.loads(line)["sourceIpAddress"] == "127.0.0.2"
    ]
    one_by_one = [e for e in mine if e["eventName"] == "GetCallerIdentity"]
    summaries = [e for e in mine if e["eventName"] == "UnauthenticatedRequestsSummarized"]
    summarized = sum(int(e["requestParameters"]["Refused"]) for e in summaries)
    # 60 a minute from one source are kept one by one (the flood may straddle a minute).
    assert len(one_by_one) <= 120 and summaries
    assert len(one_by_one) + summarized == flood
    assert all(len(json.dumps(e)) < 20_000 for e in mine)
    assert all(e["additionalEventData"]["requestParametersTruncated"] for e in one_by_one)
    assert "InvalidAccessKeyId.NotFound" in summaries[0]["requestParameters"]["ErrorCodes"]


def test_too_many_parameters_are_refused_before_any_work(server: Server) -> None:
    query = {f"P{i}": "1" for i in range(300)}
    status, body = raw.send(
        server.endpoint, "POST", "/?" + urlencode(query), {"host": server.endpoint}
    )
    assert (status, body["Code"]) == (400, "InvalidParameter.Count")
    assert body["RequestId"] and body["Message"]


def test_oversized_headers_are_refused_with_431(server: Server) -> None:
    host, port = server.endpoint.split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n")
        assert s.recv(100).startswith(b"HTTP/1.1 431")


def test_a_client_too_slow_to_send_its_headers_is_cut_off(server: Server) -> None:
    host, port = server.endpoint.split(":")
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\n")  # and never the rest
        started = time.monotonic()
        assert s.recv(100) == b""  # the server closed the connection
        assert time.monotonic() - started < 25


# -- 5. where a request comes from ----------------------------------------------------------


def _signed(server: Server, key: dict[str, Any], action: str, version: str, **headers: str) -> Any:
    query = raw.rpc_query(key["AccessKeyId"], key["AccessKeySecret"], action, version)
    return raw.send(
        server.endpoint, "POST", "/?" + urlencode(query), {"host": server.endpoint, **headers}
    )


def test_forwarded_headers_from_loopback_do_not_change_the_source_or_scheme(
    server: Server, root: Api, account: dict[str, Any]
) -> None:
    # HTTPS only: the user may list users over a secure transport alone.
    secure = {
        "Effect": "Allow",
        "Action": "ram:ListUsers",
        "Resource": "*",
        "Condition": {"Bool": {"acs:SecureTransport": "true"}},
    }
    _, key = user_with_policy(root, account, server, "tls", secure)
    status, body = _signed(server, key, "ListUsers", IMS, **{"x-forwarded-proto": "https"})
    assert (status, body["Code"]) == (403, "NoPermission")
    # The key may be used from 192.0.2.10 only: a header cannot claim that address.
    only = {"Version": 1, "Status": "Active"}
    only["Statements"] = [{"Type": "ClassicWhiteList", "IPList": ["192.0.2.10"]}]  # type: ignore[assignment]
    root.ims(
        "SetAccessKeyPolicy",
        UserPrincipalName=upn(account, "tls"),
        UserAccessKeyId=key["AccessKeyId"],
        AccessKeyPolicy=json.dumps(only),
    )
    status, body = _signed(
        server, key, "GetCallerIdentity", STS, **{"x-forwarded-for": "192.0.2.10"}
    )
    assert (status, body["Code"]) == (400, "AccessKeyId.AccessPolicyDenied")


@pytest.mark.parametrize(
    ("forwarded", "allowed"),
    [
        ("192.0.2.7", True),
        ("192.0.2.7:5555", True),
        ("[2001:db8::7]:443", False),
        ("unknown", False),
        ("_obfuscated", False),
    ],
)
def test_a_forwarded_address_that_cannot_be_read_meets_every_source_dependent_deny(
    proxied: Server, forwarded: str, allowed: bool
) -> None:
    account = proxied.create_account(f"f{uuid.uuid4().hex[:10]}")
    root = Api("v3", proxied.endpoint, account["AccessKeyId"], account["AccessKeySecret"])
    deny_elsewhere = {
        "Effect": "Deny",
        "Action": "ram:*",
        "Resource": "*",
        "Condition": {"NotIpAddress": {"acs:SourceIp": "192.0.2.0/24"}},
    }
    everything = {"Effect": "Allow", "Action": "ram:*", "Resource": "*"}
    _, key = user_with_policy(root, account, proxied, "fw", everything, deny_elsewhere)
    query = raw.rpc_query(key["AccessKeyId"], key["AccessKeySecret"], "ListUsers", IMS)
    status, body = raw.send(
        proxied.endpoint,
        "POST",
        "/?" + urlencode(query),
        {"host": proxied.endpoint, "x-forwarded-for": forwarded},
        source="127.0.0.3",
    )
    assert (status == 200) is allowed, body
    if not allowed:
        assert body["Code"] == "NoPermission"


# -- 2, 4, 6, 7. authorization ---------------------------------------------------------------


def test_a_policy_full_of_stars_does_not_stall_the_service(
    server: Server, root: Api, account: dict[str, Any]
) -> None:
    """A backtracking matcher spends time doubling with every star on this Resource."""
    stars = {"Effect": "Allow", "Action": "ram:*", "Resource": "*" * 40 + "X"}
    _, key = user_with_policy(root, account, server, "starry", stars)
    started = time.monotonic()
    status, body = _signed(server, key, "ListUsers", IMS)  # the client gives up after 30 s
    assert (status, body["Code"]) == (403, "NoPermission")
    assert time.monotonic() - started < 30


def test_a_self_scoped_policy_cannot_attach_administrator_access(
    server: Server, root: Api, account: dict[str, Any]
) -> None:
    mine = f"acs:ram:*:{root.sts('GetCallerIdentity')['AccountId']}:user/selfish"
    readonly_only = "acs:ram:*:system:policy/AliyunRAMReadOnlyAccess"
    api, _ = user_with_policy(
        root,
        account,
        server,
        "selfish",
        {"Effect": "Allow", "Action": "ram:*", "Resource": mine},
        {"Effect": "Allow", "Action": "ram:AttachPolicyToUser", "Resource": readonly_only},
    )
    expect_error(
        "NoPermission",
        403,
        api.ram,
        "AttachPolicyToUser",
        UserName="selfish",
        PolicyName="AdministratorAccess",
        PolicyType="System",
    )
    api.ram(
        "AttachPolicyToUser",
        UserName="selfish",
        PolicyName="AliyunRAMReadOnlyAccess",
        PolicyType="System",
    )
    # Adding oneself to a group needs the group too.
    root.ram("CreateGroup", GroupName="admins")
    expect_error(
        "NoPermission", 403, api.ram, "AddUserToGroup", GroupName="admins", UserName="selfish"
    )
    attached = root.ram("ListPoliciesForUser", UserName="selfish")["Policies"]["Policy"]
    assert sorted(p["PolicyName"] for p in attached) == [
        "AliyunRAMReadOnlyAccess",
        "selfish-policy",
    ]


def test_self_service_is_for_the_same_user_not_a_namesake(
    server: Server, root: Api, account: dict[str, Any]
) -> None:
    old = make_user(root, account, "sam")
    old_id = user_id_of(root, old)
    old_key = make_key(root, old)["AccessKeyId"]
    disable(root, old, old_key)
    root.ims("DeleteAccessKey", UserPrincipalName=old, UserAccessKeyId=old_key)
    root.ims("DeleteUser", UserPrincipalName=old)
    new = make_user(root, account, "sam")  # the same name, another user
    key = make_key(root, new)
    root.ims("SetSecurityPreference", AllowUserToManageAccessKeys="true")
    namesake = Api("v3", server.endpoint, key["AccessKeyId"], key["AccessKeySecret"])
    assert namesake.ims("ListAccessKeys")["AccessKeys"]["AccessKey"]  # its own: allowed
    expect_error("NoPermission", 403, namesake.ims, "ListAccessKeysInRecycleBin", UserId=old_id)
    expect_error(
        "NoPermission",
        403,
        namesake.ims,
        "DeleteAccessKeyInRecycleBin",
        UserId=old_id,
        UserAccessKeyId=old_key,
    )
    binned = root.ims("ListAccessKeysInRecycleBin", UserId=old_id)["AccessKeys"]["AccessKey"]
    assert [k["AccessKeyId"] for k in binned] == [old_key]


def test_a_caller_without_permission_cannot_tell_which_ids_exist(
    server: Server, root: Api, account: dict[str, Any]
) -> None:
    known = make_user(root, account, "known")
    known_id = user_id_of(root, known)
    known_key = make_key(root, known)["AccessKeyId"]
    api, _ = user_with_policy(root, account, server, "nosy")
    for params in (
        {"UserId": known_id},
        {"UserId": "999999999999999999"},
        {"UserAccessKeyId": known_key},
        {"UserAccessKeyId": "LTAI" + "q" * 20},
    ):
        expect_error("NoPermission", 403, api.ims, "GetUser", **params)
    for key_id in (known_key, "LTAI" + "w" * 20):
        expect_error(
            "NoPermission", 403, api.ims, "GetAccessKeyInfoInRecycleBin", UserAccessKeyId=key_id
        )
    for user_id in (known_id, "888888888888888888"):
        expect_error("NoPermission", 403, api.ims, "DeleteUserInRecycleBin", UserId=user_id)
    # The root, allowed everywhere, learns that an unknown ID is unknown.
    expect_error("EntityNotExist.User", 404, root.ims, "GetUser", UserId="999999999999999999")


# -- 11, 12. validation ---------------------------------------------------------------------


def test_names_ending_in_a_newline_are_refused(server: Server, account: dict[str, Any]) -> None:
    domain = f"{account['AccountName']}.onaliyun.com"
    params = {"UserPrincipalName": f"alice\n@{domain}", "DisplayName": "alice"}
    status, body = raw.call_rpc(server.endpoint, root_key(account), "CreateUser", IMS, params)
    assert status == 400 and body["Code"].startswith("InvalidParameter"), body
    params = {"UserName": "bob\n", "DisplayName": "bob"}
    status, body = raw.call_rpc(server.endpoint, root_key(account), "CreateUser", RAM, params)
    assert status == 400 and body["Code"].startswith("InvalidParameter"), body


@pytest.mark.parametrize(
    "stamp", ["{}\n", "\u0662\u0660\u0662\u0666-01-01T00:00:00Z", "2026-12-00T16:19:49Z"]
)
def test_malformed_timestamps_are_a_400_not_a_500(
    server: Server, account: dict[str, Any], stamp: str
) -> None:
    query = raw.rpc_query(account["AccessKeyId"], account["AccessKeySecret"], "ListUsers", IMS)
    query["Timestamp"] = stamp.format(query["Timestamp"])
    status, body = raw.post_rpc(server.endpoint, query)
    assert status == 400 and body["Code"] and body["RequestId"], body


DEEP = '{"Version":"1","Statement":' + "[" * 1500 + "]" * 1500 + "}"  # under the length cap
HUGE = (
    '{"Version":"1","Statement":[{"Effect":"Allow","Action":"*","Resource":"*",'
    '"Condition":{"StringEquals":{"acs:SourceIp":' + "9" * 5000 + "}}}]}"
)


@pytest.mark.parametrize("document", [DEEP, HUGE], ids=["deep", "huge-number"])
def test_hostile_json_documents_are_refused_cleanly(root: Api, document: str) -> None:
    for call in (
        lambda: root.ram("CreatePolicy", PolicyName="hostile", PolicyDocument=document),
        lambda: root.ims("SetAccessKeyPolicyForAccount", AccessKeyPolicy=document),
    ):
        with pytest.raises(ApiError) as info:
            call()
        assert info.value.status == 400, str(info.value)


@pytest.mark.parametrize(
    "token",
    [
        "%%%",
        base64.urlsafe_b64encode(b"2026-01-01T00:00:00+00:00|" + b"9" * 30).decode(),
        base64.urlsafe_b64encode(b"2026-01-01T00:00:00|5").decode(),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    ],
)
def test_a_malformed_next_token_is_a_400(root: Api, token: str) -> None:
    expect_error("InvalidParameter.NextToken", 400, root.trail, "LookupEvents", NextToken=token)


# -- 16, 17. vendor fidelity ------------------------------------------------------------------


def test_an_accounts_own_domain_is_reserved_for_it(
    server: Server, root: Api, account: dict[str, Any]
) -> None:
    other = server.create_account(f"o{uuid.uuid4().hex[:10]}")
    expect_error(
        "EntityAlreadyExists.DefaultDomainName",
        409,
        root.ims,
        "SetDefaultDomain",
        DefaultDomainName=f"{other['AccountName']}.onaliyun.com",
    )
    future = f"future{uuid.uuid4().hex[:8]}"
    root.ims("SetDefaultDomain", DefaultDomainName=f"{future}.onaliyun.com")
    result = server.cli("account", "create", "--name", future, check=False)
    assert result.returncode == 1
    assert f"{future}.onaliyun.com" in result.stderr and account["AccountName"] in result.stderr


def test_lookup_events_takes_the_documented_direction_values(root: Api) -> None:
    root.ims("ListUsers")
    root.ims("GetDefaultDomain")
    time.sleep(1.2)

    def ids(direction: str) -> list[str]:
        found = root.trail("LookupEvents", Direction=direction)["Events"]
        return [e["eventId"] for e in found if e["eventName"] != "LookupEvents"]

    forward = ids("FORWARD")
    assert forward == list(reversed(ids("BACKWARD"))) and len(forward) >= 2
    assert ids("forward") == forward
    expect_error("InvalidParameter.Direction", 400, root.trail, "LookupEvents", Direction="UP")


def test_a_browser_opening_the_root_address_is_sent_to_the_console(server: Server) -> None:
    """GET / from a browser goes to the console; the API answers everything else."""
    host, port = server.endpoint.split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nAccept: text/html\r\n\r\n")
        head = s.recv(500).decode()
    assert head.startswith("HTTP/1.1 303") and re.search(r"(?i)location: /console\r\n", head)


# -- issue 21, item 9: HTTP edges --------------------------------------------------------------


def _response_head(s: socket.socket) -> bytes:
    """The status line and headers of the next response, and its whole body read past."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = re.search(rb"(?i)content-length: *([0-9]+)", head)
    remaining = int(length.group(1)) - len(body) if length else 0
    while remaining > 0:
        chunk = s.recv(remaining)
        if not chunk:
            break
        remaining -= len(chunk)
    return head + b"\r\n\r\n"


def test_a_body_sent_slowly_is_cut_at_30_seconds_and_the_connection_closed(
    proxied: Server,
) -> None:
    host, port = proxied.endpoint.split(":")
    with socket.create_connection((host, int(port)), timeout=60) as s:
        s.sendall(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: 1000\r\n\r\n"
        )
        started = time.monotonic()
        s.settimeout(1.0)
        reply = b""
        while not reply and time.monotonic() - started < 45:
            try:
                s.sendall(b"a")  # one byte a second, never the whole body
            except OSError:
                break
            try:
                reply = s.recv(4096)
            except TimeoutError:
                continue
        took = time.monotonic() - started
        assert reply.startswith(b"HTTP/1.1 408"), reply
        assert 28 <= took <= 33, took
        # The head and the body may come in separate segments: read to the close.
        s.settimeout(5)
        try:
            while chunk := s.recv(4096):
                reply += chunk
        except (TimeoutError, ConnectionResetError):
            pytest.fail("the server kept the connection open after its 408")
        assert b"RequestTimeout" in reply and b"connection: close" in reply.lower()
        assert time.monotonic() - started < 36


def test_expect_100_continue_with_an_oversized_body_is_refused_before_100(
    server: Server,
) -> None:
    host, port = server.endpoint.split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(
            b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
            b"Content-Length: 1000000000\r\n\r\n"
        )
        head = _response_head(s)
        assert head.startswith(b"HTTP/1.1 413"), head
        assert b"100 Continue" not in head
        assert b"connection: close" in head.lower()


def test_idle_kept_alive_connections_are_bounded_per_source(server: Server) -> None:
    host, port = server.endpoint.split(":")
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    held: list[socket.socket] = []
    try:
        for _ in range(300):
            s = socket.create_connection(
                (host, int(port)), timeout=10, source_address=("127.0.0.5", 0)
            )
            s.sendall(request)
            assert _response_head(s).startswith(b"HTTP/1.1 200")
            held.append(s)
        time.sleep(1.0)
        still_open = 0
        for s in held:
            s.setblocking(False)
            try:
                still_open += s.recv(1, socket.MSG_PEEK) != b""
            except BlockingIOError:
                still_open += 1  # nothing to read and not closed: still held by the server
            except ConnectionResetError:
                pass
        assert 0 < still_open <= 128, still_open
        # Another source is not crowded out.
        with socket.create_connection(
            (host, int(port)), timeout=10, source_address=("127.0.0.6", 0)
        ) as other:
            other.sendall(request)
            assert _response_head(other).startswith(b"HTTP/1.1 200")
    finally:
        for s in held:
            s.close()


def test_numbers_are_digits_only(server: Server, account: dict[str, Any]) -> None:
    # Each within MaxItems' range (1 to 1000) as int() reads it: only the digits rule refuses.
    for value in (" 100", "100 ", "+100", "\uff11\uff10\uff10"):  # fullwidth digits too
        status, body = raw.call_rpc(
            server.endpoint,
            root_key(account),
            "ListUsers",
            RAM,
            {"MaxItems": value},
        )
        assert (status, body.get("Code")) == (400, "InvalidParameter.MaxItems"), (value, body)
