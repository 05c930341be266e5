"""The console against an attacker, over plain HTTP (what the server answers, on both
backends): sessions end with the password, the sign-in throttle cannot be raced, notices come
from the server, a reload repeats nothing, and the trail is read only by those allowed."""

from __future__ import annotations

import json
import socket
import threading
import uuid
from typing import Any

from tests.integration.browserless import ConsoleClient
from tests.integration.sdk import Api
from tests.integration.server import Server
from tests.integration.steps import eventually, make_key, make_user
from tests.integration.test_audit import events

OWNER = "Owner-Passw0rd"
USER = "User-Passw0rd1"


def _owner(server: Server) -> dict[str, Any]:
    account = server.create_account(f"k{uuid.uuid4().hex[:10]}")
    server.cli("account", "set-password", "--name", account["AccountName"], input=OWNER + "\n")
    return account


def _root(server: Server, account: dict[str, Any]) -> Api:
    return Api("v3", server.endpoint, account["AccessKeyId"], account["AccessKeySecret"])


def _signed_in(client: ConsoleClient) -> bool:
    return client.get("/console/users").status == 200


def test_a_new_password_ends_the_other_sessions(server: Server) -> None:
    account = _owner(server)
    root = _root(server, account)
    make_user(root, account, "pat")
    root.ims(
        "CreateLoginProfile",
        UserPrincipalName=f"pat@{account['AccountName']}.onaliyun.com",
        Password=USER,
        PasswordResetRequired="false",
    )
    here, there = ConsoleClient(server.endpoint), ConsoleClient(server.endpoint)
    for c in (here, there):
        assert c.sign_in(account["AccountName"], USER, "pat").status == 303
    here.get("/console/password")
    changed = here.post(
        "/console/password",
        {"current": USER, "new": "Newer-Passw0rd", "repeat": "Newer-Passw0rd"},
    )
    assert changed.status == 303, changed.text[:500]
    assert here.get("/console/password").status == 200  # this session goes on
    assert there.get("/console/password").location.endswith("/console/signin")
    # A reset by the administrator signs the user out everywhere.
    root.ims(
        "UpdateLoginProfile",
        UserPrincipalName=f"pat@{account['AccountName']}.onaliyun.com",
        Password="Reset-Passw0rd9",
    )
    assert here.get("/console/password").location.endswith("/console/signin")
    # And the owner's new password (set by the operator) ends the owner's sessions.
    owner = ConsoleClient(server.endpoint)
    owner.sign_in(account["AccountName"], OWNER)
    assert _signed_in(owner)
    name = account["AccountName"]
    server.cli("account", "set-password", "--name", name, input="Other-Passw0rd\n")
    assert not _signed_in(owner)


def test_concurrent_guesses_cannot_race_the_throttle(server: Server) -> None:
    account = _owner(server)
    name = account["AccountName"]
    statuses: list[int] = []

    def guess(n: int) -> None:
        statuses.append(ConsoleClient(server.endpoint).sign_in(name, f"Wrong-{n}-Passw0rd").status)

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(15)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses.count(401) <= 5 and statuses.count(429) >= 10, statuses
    # The right password from this address waits out the lock; from another address it works:
    # guessing from one place does not lock the owner out everywhere.
    assert ConsoleClient(server.endpoint).sign_in(name, OWNER).status == 429
    elsewhere = ConsoleClient(server.endpoint, source="127.0.0.2")
    assert elsewhere.sign_in(name, OWNER).status == 303
    root = _root(server, account)

    def codes() -> list[str | None]:
        return [e["errorCode"] for e in events(root, EventName="ConsoleSignin")]

    assert eventually(lambda: None in codes())  # the success from the other address
    assert codes().count("ConsoleSignin.Throttled") >= 10


def test_notices_come_from_the_server_and_a_reload_creates_nothing(server: Server) -> None:
    account = _owner(server)
    root = _root(server, account)
    make_user(root, account, "rae")
    client = ConsoleClient(server.endpoint)
    client.sign_in(account["AccountName"], OWNER)
    spoofed = client.get("/console/users/rae?done=Your+password+was+reset.+Call+us")
    assert spoofed.status == 200 and "Call us" not in spoofed.text
    created = client.post("/console/users/rae/keys", {})
    assert created.status == 303 and created.location == "/console/users/rae/new-key"
    shown = client.get("/console/users/rae/new-key")
    keys = root.ims(
        "ListAccessKeys", UserPrincipalName=f"rae@{account['AccountName']}.onaliyun.com"
    )
    [key] = keys["AccessKeys"]["AccessKey"]
    assert key["AccessKeyId"] in shown.text and 'id="new-key-secret"' in shown.text
    again = client.get("/console/users/rae/new-key")  # a reload: the secret is gone
    assert again.status == 303 and "new-key-secret" not in again.text
    keys = root.ims(
        "ListAccessKeys", UserPrincipalName=f"rae@{account['AccountName']}.onaliyun.com"
    )
    assert len(keys["AccessKeys"]["AccessKey"]) == 1
    assert client.get("/console/users/rae").text.count("was created") == 0  # shown once only


def test_malformed_console_query_values_get_an_error_page(server: Server) -> None:
    account = _owner(server)
    client = ConsoleClient(server.endpoint)
    client.sign_in(account["AccountName"], OWNER)
    for path in ("/console/users?offset=abc", "/console/audit?next=%%%", "/console/audit?next=x"):
        page = client.get(path)
        assert page.status == 400, (path, page.status)
        assert "Traceback" not in page.text and 'role="alert"' in page.text
    for path in ("/console/users/a%00b", "/console/users?q=LTAI%00x"):
        page = client.get(path)  # a user or key that cannot exist: no 500 on any store
        assert page.status < 500 and "Traceback" not in page.text, (path, page.status)


def test_policy_simulation_needs_permission_to_read_the_trail(server: Server) -> None:
    account = _owner(server)
    root = _root(server, account)
    principal = make_user(root, account, "sim")
    pair = make_key(root, principal)
    key = pair["AccessKeyId"]
    Api("v3", server.endpoint, key, pair["AccessKeySecret"]).sts("GetCallerIdentity")
    policy = {
        "Version": "1",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["ram:GetUser", "ram:ListAccessKeys", "ram:*AccessKeyPolicy"],
                "Resource": "*",
            }
        ],
    }
    root.ram("CreatePolicy", PolicyName="keys-only", PolicyDocument=json.dumps(policy))
    root.ram("AttachPolicyToUser", UserName="sim", PolicyName="keys-only", PolicyType="Custom")
    root.ims(
        "CreateLoginProfile",
        UserPrincipalName=principal,
        Password=USER,
        PasswordResetRequired="false",
    )
    client = ConsoleClient(server.endpoint)
    client.sign_in(account["AccountName"], USER, "sim")
    path = f"/console/users/sim/keys/{key}/policy"
    assert client.get(path).status == 200
    draft = {"Version": 1, "Status": "Active", "Statements": [{"Type": "ClassicWhiteList"}]}
    draft["Statements"][0]["IPList"] = ["10.0.0.0/8"]  # type: ignore[index]
    stashed = client.post(path + "/check", {"policy": json.dumps(draft)})
    assert stashed.status == 303 and stashed.location == path + "/check"
    page = client.get(path + "/check")
    assert page.status == 403 and "127.0.0.1" not in page.text
    assert "You are not allowed to do this (actiontrail:LookupEvents)" in page.text


def test_console_bodies_are_held_to_the_request_limit(server: Server) -> None:
    """Starlette's form parser alone would take 1,000 fields of 1 MB each."""
    host, port = server.endpoint.split(":")
    for head in (
        b"Content-Length: 2000000\r\n",  # more than KEYHOUSE_MAX_BODY_BYTES (1 MiB)
        b"Transfer-Encoding: chunked\r\n",  # no length declared
    ):
        with socket.create_connection((host, int(port)), timeout=10) as s:
            s.sendall(
                b"POST /console/signin HTTP/1.1\r\nHost: x\r\n"
                b"Content-Type: application/x-www-form-urlencoded\r\n" + head + b"\r\n"
            )
            status = s.recv(200).split(b" ")[1]
        assert status in {b"413", b"411"}, (head, status)
    client = ConsoleClient(server.endpoint)  # an ordinary form still works
    assert client.sign_in("nobody-here", "Wrong-Passw0rd1").status == 401
