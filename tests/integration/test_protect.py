"""Keyhouse in front of a team's own API: the documented nginx block (deploy/nginx/protect.conf)
run for real, ``auth_request`` to a real Keyhouse, a small real upstream, on SQLite and on
PostgreSQL. Clients sign with the official SDK's generic call (tea-openapi ``call_api``, with
long-term keys and with STS credentials through alibabacloud-credentials); requests that must
be tampered with after signing are signed by hand (tests/integration/raw.py)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from playwright.sync_api import expect

from keyhouse.middleware import Verifier
from tests.conftest import scratch_database
from tests.integration import raw
from tests.integration.nginx import CONFIGS, running_nginx
from tests.integration.outage import store_away
from tests.integration.protect import (
    ACTIONS,
    ROUTES,
    VERSION,
    Caller,
    doc,
    gateway_user,
    node_call,
    policy_user,
    sdk_call,
    serving,
    upstream,
)
from tests.integration.sdk import Api, ApiError
from tests.integration.server import Server, free_port
from tests.integration.steps import disable, events, eventually
from tests.integration.test_console import PASSWORD, open_dialog, sign_in


@dataclass
class World:
    keyhouse: Server
    other: Server  # a second instance on the same store
    gateway: str  # nginx's address: what clients call
    root: Api
    account: dict[str, Any]
    account_id: str
    alice: Caller  # orders:* on order/*, but never GetOrder on order/secret
    gate: Caller  # the gateway's own key

    def call(self, who: Caller, method: str, path: str, **kw: Any) -> tuple[int, Any]:
        return sdk_call(self.gateway, who.access_key_id, who.secret, method, path, **kw)

    def user(self, name: str, document: str) -> Caller:
        return policy_user(self.root, self.account, name, document)


def _signed(
    world: World,
    who: Caller,
    method: str,
    path: str,
    *,
    host: str | None = None,
    date: str | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    return raw.v3_headers(
        host or world.gateway,
        who.access_key_id,
        who.secret,
        "GetOrder",
        VERSION,
        {},
        method=method,
        path=path,
        date=date,
        nonce=nonce,
    )


@pytest.fixture(scope="module")
def world(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    workdir = tmp_path_factory.mktemp(f"protect-{backend}")
    with _database(backend, workdir) as url, upstream() as api:
        # nginx, on loopback, vouches for the client's address; metrics show the lane.
        trusting = {"KEYHOUSE_TRUSTED_PROXIES": "127.0.0.1/32", "KEYHOUSE_METRICS": "on"}
        keyhouse = Server(url, workdir / "master.key", workdir, extra_env=trusting).start()
        other = Server(url, workdir / "master.key", workdir).start()
        try:
            account = keyhouse.create_account(f"p{uuid.uuid4().hex[:10]}")
            root = Api("v3", keyhouse.endpoint, account["AccessKeyId"], account["AccessKeySecret"])
            account_id = root.sts("GetCallerIdentity")["AccountId"]
            root.ims(
                "CreateService",
                ServiceName="orders",
                Routes=json.dumps(ROUTES),
                Actions=json.dumps(ACTIONS),
                Description="the team's order API",
            )
            gate = gateway_user(root, account, account_id, "orders")
            orders = f"acs:orders:*:{account_id}"
            alice = policy_user(
                root,
                account,
                "alice",
                doc(
                    {"Effect": "Allow", "Action": "orders:*", "Resource": f"{orders}:*"},
                    {
                        "Effect": "Deny",
                        "Action": "orders:GetOrder",
                        "Resource": f"{orders}:order/secret",
                    },
                ),
            )
            port = free_port()
            conf = (
                (CONFIGS / "protect.conf")
                .read_text()
                .replace("127.0.0.1:8000", keyhouse.endpoint)
                .replace("127.0.0.1:9000", api)
                .replace("listen 127.0.0.1:8080", f"listen 127.0.0.1:{port}")
                .replace("GATEWAY_ACCESS_KEY_ID", gate.access_key_id)
                .replace("GATEWAY_ACCESS_KEY_SECRET", gate.secret)
            )
            with running_nginx(conf, workdir / "nginx", port):
                yield World(
                    keyhouse,
                    other,
                    f"127.0.0.1:{port}",
                    root,
                    account,
                    account_id,
                    alice,
                    gate,
                )
        finally:
            other.stop()
            keyhouse.stop()


def _database(backend: str, workdir: Path) -> Any:
    if backend == "sqlite":
        from contextlib import nullcontext

        return nullcontext(f"sqlite:///{workdir / 'keyhouse.db'}")
    return scratch_database()


def test_an_allowed_request_reaches_the_api_with_the_callers_identity(world: World) -> None:
    status, seen = world.call(world.alice, "GET", "/orders/42")
    assert status == 200, seen
    told = seen["keyhouse"]
    assert told["x-keyhouse-account-id"] == world.account_id
    assert told["x-keyhouse-principal-arn"] == f"acs:ram::{world.account_id}:user/alice"
    assert told["x-keyhouse-principal-type"] == "RAMUser"
    assert told["x-keyhouse-access-key-id"] == world.alice.access_key_id
    assert told["x-keyhouse-action"] == "orders:GetOrder"
    assert told["x-keyhouse-resource"] == f"acs:orders:*:{world.account_id}:order/42"
    assert told["x-keyhouse-request-id"]
    assert "x-keyhouse-gateway" not in told  # the gateway's key stays between it and Keyhouse
    assert seen["method"] == "GET" and seen["path"] == "/orders/42"
    # A body travels to the API; its action comes from the route.
    status, seen = world.call(
        world.alice, "POST", "/orders", action="CreateOrder", body={"item": "tea"}
    )
    assert status == 200 and json.loads(seen["body"]) == {"item": "tea"}
    assert seen["keyhouse"]["x-keyhouse-action"] == "orders:CreateOrder"


def test_each_verification_is_one_event_and_moves_the_keys_last_use(world: World) -> None:
    caller = world.user(
        "evented",
        doc({"Effect": "Allow", "Action": "orders:GetOrder", "Resource": "*"}),
    )
    assert world.call(caller, "GET", "/orders/7")[0] == 200
    assert world.call(caller, "GET", "/orders/8", action="GetOrder")[0] == 200
    assert world.call(caller, "POST", "/orders", action="CreateOrder")[0] == 403
    found = eventually(lambda: _events_of(world, caller, 3))
    assert sorted(e["eventName"] for e in found) == ["CreateOrder", "GetOrder", "GetOrder"]
    assert {e["serviceName"] for e in found} == {"orders"}
    assert all(e["requestParameters"]["ServiceName"] == "orders" for e in found)
    refused = next(e for e in found if e["eventName"] == "CreateOrder")
    assert refused["errorCode"] == "NoPermission"
    allowed = [e for e in found if e["eventName"] == "GetOrder"]
    assert {e["requestParameters"]["Resource"] for e in allowed} == {
        f"acs:orders:*:{world.account_id}:order/{n}" for n in (7, 8)
    }
    assert all(e["requestParameters"]["Action"] == "orders:GetOrder" for e in allowed)
    by_name = events(world.root, ResourceName=f"acs:orders:*:{world.account_id}:order/7")
    assert [e["eventName"] for e in by_name] == ["GetOrder"]
    last = world.root.ims(
        "GetAccessKeyLastUsed",
        UserPrincipalName=_upn(world, "evented"),
        UserAccessKeyId=caller.access_key_id,
    )["AccessKeyLastUsed"]
    assert last["ServiceName"] == "orders" and last["LastUsedDate"]


def _events_of(world: World, caller: Caller, count: int) -> list[dict[str, Any]] | None:
    found = events(world.root, EventAccessKeyId=caller.access_key_id)
    return found if len(found) == count else None


def _upn(world: World, name: str) -> str:
    domain = world.root.ims("GetDefaultDomain")["DefaultDomainName"]
    return f"{name}@{domain}"


def _verifications(world: World) -> dict[str, float]:
    with urllib.request.urlopen(f"http://{world.keyhouse.endpoint}/metrics", timeout=10) as got:
        text = got.read().decode()
    found = re.findall(r'^keyhouse_gateway_verifications_total\{where="(\w+)"\} (\S+)$', text, re.M)
    return {where: float(value) for where, value in found}


def test_a_verification_the_cache_can_answer_runs_on_the_event_loop(world: World) -> None:
    """No store read and no thread hop once the caller, its grants, the gateway and the
    service are cached: the committer's batch is the only store work."""
    world.call(world.alice, "GET", "/orders/30")  # warm
    before = _verifications(world)
    for n in range(5):
        assert world.call(world.alice, "GET", f"/orders/{31 + n}")[0] == 200
    after = _verifications(world)
    assert after["loop"] - before.get("loop", 0) == 5
    assert after.get("thread", 0) == before.get("thread", 0)


def test_a_wrong_secret_is_refused_401_in_the_vendors_envelope(world: World) -> None:
    wrong = Caller("alice", world.alice.access_key_id, "x" * len(world.alice.secret))
    status, code = world.call(wrong, "GET", "/orders/42")
    assert (status, code) == (401, "SignatureDoesNotMatch")
    # The body is the envelope, as nginx returns it.
    status, body = raw.send(
        world.gateway, "GET", "/orders/42", _signed(world, wrong, "GET", "/orders/42")
    )
    assert status == 401
    assert body["Code"] == "SignatureDoesNotMatch" and body["RequestId"] and body["Message"]


def test_a_replayed_request_is_refused_the_second_time(world: World) -> None:
    headers = _signed(world, world.alice, "GET", "/orders/5")
    assert raw.send(world.gateway, "GET", "/orders/5", headers)[0] == 200
    status, body = raw.send(world.gateway, "GET", "/orders/5", headers)
    assert (status, body["Code"]) == (401, "SignatureNonceUsed")


def test_a_nonce_is_spent_once_across_keyhouse_and_every_service(world: World) -> None:
    nonce = uuid.uuid4().hex
    headers = _signed(world, world.alice, "GET", "/orders/6", nonce=nonce)
    assert raw.send(world.gateway, "GET", "/orders/6", headers)[0] == 200
    # The same nonce, in a request to Keyhouse itself, is a replay.
    own = raw.v3_headers(
        world.keyhouse.endpoint,
        world.alice.access_key_id,
        world.alice.secret,
        "GetCallerIdentity",
        "2015-04-01",
        {},
        nonce=nonce,
    )
    status, body = raw.send(world.keyhouse.endpoint, "POST", "/", own)
    assert (status, body.get("Code")) == (400, "SignatureNonceUsed")


def test_a_key_disabled_through_another_instance_is_refused_on_its_next_request(
    world: World,
) -> None:
    carol = world.user("carol", doc({"Effect": "Allow", "Action": "orders:*", "Resource": "*"}))
    assert world.call(carol, "GET", "/orders/1")[0] == 200  # cached now
    elsewhere = Api(
        "v3", world.other.endpoint, world.account["AccessKeyId"], world.account["AccessKeySecret"]
    )
    disable(elsewhere, _upn(world, "carol"), carol.access_key_id)
    assert world.call(carol, "GET", "/orders/1") == (401, "InvalidAccessKeyId.Inactive")


def test_a_policy_denies_one_resource_and_allows_another(world: World) -> None:
    assert world.call(world.alice, "GET", "/orders/secret") == (403, "NoPermission")
    assert world.call(world.alice, "GET", "/orders/public")[0] == 200


def test_routes_and_signed_actions(world: World) -> None:
    status, seen = world.call(world.alice, "POST", "/rpc", action="Ping")
    assert status == 200 and seen["keyhouse"]["x-keyhouse-action"] == "orders:Ping"
    # An action the service does not list, a path no route takes, a method no route takes.
    assert world.call(world.alice, "POST", "/rpc", action="Drop") == (403, "Forbidden.NoRoute")
    assert world.call(world.alice, "GET", "/invoices/1") == (403, "Forbidden.NoRoute")
    assert world.call(world.alice, "DELETE", "/orders/1") == (403, "Forbidden.NoRoute")


def test_network_access_policy_sees_the_clients_address_not_the_gateways(world: World) -> None:
    dave = world.user("dave", doc({"Effect": "Allow", "Action": "orders:*", "Resource": "*"}))
    world.root.ims(
        "SetAccessKeyPolicy",
        UserPrincipalName=_upn(world, "dave"),
        UserAccessKeyId=dave.access_key_id,
        AccessKeyPolicy=json.dumps(
            {
                "Version": 1,
                "Status": "Active",
                "Statements": [{"Type": "ClassicWhiteList", "IPList": ["127.0.0.9/32"]}],
            }
        ),
    )
    path = "/orders/3"
    allowed = raw.send(
        world.gateway, "GET", path, _signed(world, dave, "GET", path), source="127.0.0.9"
    )
    assert allowed[0] == 200, allowed
    refused = raw.send(
        world.gateway, "GET", path, _signed(world, dave, "GET", path), source="127.0.0.8"
    )
    assert (refused[0], refused[1]["Code"]) == (401, "AccessKeyId.AccessPolicyDenied")


def _session(world: World, name: str) -> tuple[tuple[str, str], str]:
    """A role ``name`` (orders:* on everything) trusting a user of its own, assumed by that
    user with a session policy that allows orders:GetOrder on order/1 only: the temporary
    pair and its token."""
    assumer = world.user(
        f"{name}-user", doc({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"})
    )
    trust = {
        "Effect": "Allow",
        "Action": "sts:AssumeRole",
        "Principal": {"RAM": [f"acs:ram::{world.account_id}:user/{name}-user"]},
    }
    world.root.ram(
        "CreateRole",
        RoleName=name,
        AssumeRolePolicyDocument=json.dumps({"Version": "1", "Statement": [trust]}),
    )
    everything = doc({"Effect": "Allow", "Action": "orders:*", "Resource": "*"})
    world.root.ram("CreatePolicy", PolicyName=f"{name}-all", PolicyDocument=everything)
    world.root.ram(
        "AttachPolicyToRole", RoleName=name, PolicyName=f"{name}-all", PolicyType="Custom"
    )
    only_order_1 = {
        "Effect": "Allow",
        "Action": "orders:GetOrder",
        "Resource": f"acs:orders:*:{world.account_id}:order/1",
    }
    creds = Api("v3", world.keyhouse.endpoint, assumer.access_key_id, assumer.secret).sts(
        "AssumeRole",
        RoleArn=f"acs:ram::{world.account_id}:role/{name}",
        RoleSessionName="job",
        Policy=doc(only_order_1),
    )["Credentials"]
    return (creds["AccessKeyId"], creds["AccessKeySecret"]), creds["SecurityToken"]


def test_an_sts_session_is_held_to_its_session_policy(world: World) -> None:
    temporary, token = _session(world, "orders-reader")
    status, seen = sdk_call(world.gateway, *temporary, "GET", "/orders/1", token=token)
    assert status == 200, seen
    assert seen["keyhouse"]["x-keyhouse-principal-type"] == "AssumedRoleUser"
    assert seen["keyhouse"]["x-keyhouse-principal-arn"] == (
        f"acs:ram::{world.account_id}:assumed-role/orders-reader/job"
    )
    assert sdk_call(world.gateway, *temporary, "GET", "/orders/2", token=token) == (
        403,
        "NoPermission",
    )
    # The token is signed with the request: without it, the key means nothing.
    assert sdk_call(world.gateway, *temporary, "GET", "/orders/1")[0] == 401


@pytest.mark.parametrize(
    "tamper",
    ["path", "host", "query", "method", "unsigned x-acs- header", "unsigned content-type"],
)
def test_a_request_changed_after_signing_is_refused(world: World, tamper: str) -> None:
    headers = _signed(world, world.alice, "GET", "/orders/10")
    method, target = "GET", "/orders/10"
    if tamper == "path":
        target = "/orders/11"
    elif tamper == "host":
        headers["host"] = "elsewhere.example:8080"
    elif tamper == "query":
        target = "/orders/10?limit=5"
    elif tamper == "method":
        method = "DELETE"
    elif tamper == "unsigned x-acs- header":
        headers["x-acs-extra"] = "1"
    else:
        headers["content-type"] = "text/plain"
    status, body = raw.send(world.gateway, method, target, headers)
    expected = {
        "path": "SignatureDoesNotMatch",
        "host": "SignatureDoesNotMatch",
        "query": "SignatureDoesNotMatch",
        "method": "SignatureDoesNotMatch",
        "unsigned x-acs- header": "IncompleteSignature",
        "unsigned content-type": "IncompleteSignature",
    }[tamper]
    assert (body.get("Code"), status) == (expected, 401), body


def test_a_skewed_clock_is_refused(world: World) -> None:
    headers = _signed(world, world.alice, "GET", "/orders/12", date="2020-01-01T00:00:00Z")
    status, body = raw.send(world.gateway, "GET", "/orders/12", headers)
    assert (status, body["Code"]) == (401, "InvalidTimeStamp.Expired")


def test_only_a_configured_gateway_may_ask_and_nothing_is_spent_for_anyone_else(
    world: World,
) -> None:
    path = "/orders/13"
    headers = _signed(world, world.alice, "GET", path)
    forwarded = {
        **headers,
        "x-forwarded-method": "GET",
        "x-forwarded-uri": path,
        "x-forwarded-host": world.gateway,
        "x-keyhouse-service": "orders",
    }
    verify = "/gateway/verify"
    strangers = {
        "no gateway key": {},
        "a wrong gateway secret": {
            "x-keyhouse-gateway": f"{world.gate.access_key_id}:{world.gate.secret[:-1]}x"
        },
        # A valid key, without keyhouse:VerifyRequest on the service.
        "a caller's own key": {
            "x-keyhouse-gateway": f"{world.alice.access_key_id}:{world.alice.secret}"
        },
    }
    for why, extra in strangers.items():
        sent = {**forwarded, **extra, "host": world.keyhouse.endpoint}
        status, body = raw.send(world.keyhouse.endpoint, "GET", verify, sent)
        assert (status, body.get("Code")) == (403, "Forbidden.NotAGateway"), why
        assert "Signature" not in body.get("Message", ""), why  # no oracle
    # The client's nonce was not spent by any of them: the request still passes.
    assert raw.send(world.gateway, "GET", path, headers)[0] == 200
    # A gateway allowed on another service is not a gateway of this one.
    other = gateway_user(world.root, world.account, world.account_id, "billing")
    sent = {
        **_signed(world, world.alice, "GET", path),
        "x-forwarded-method": "GET",
        "x-forwarded-uri": path,
        "x-forwarded-host": world.gateway,
        "x-keyhouse-service": "orders",
        "x-keyhouse-gateway": f"{other.access_key_id}:{other.secret}",
        "host": world.keyhouse.endpoint,
    }
    status, body = raw.send(world.keyhouse.endpoint, "GET", verify, sent)
    assert (status, body.get("Code")) == (403, "Forbidden.NotAGateway")


def test_the_question_in_envoys_and_traefiks_shapes(world: World) -> None:
    """Envoy (ext_authz HTTP, path_prefix /gateway/verify): the original method, the original
    path after the prefix, the original Host, the gateway's key in headers_to_add. Traefik
    (ForwardAuth): X-Forwarded-Method/-Uri/-Host, the service and key in the address."""
    path = "/orders/14?verbose=1"

    def signed() -> dict[str, str]:
        return raw.v3_headers(
            world.gateway,
            world.alice.access_key_id,
            world.alice.secret,
            "GetOrder",
            VERSION,
            {"verbose": "1"},
            method="GET",
            path="/orders/14",
        )

    envoy = {
        **signed(),
        "x-keyhouse-service": "orders",
        "x-keyhouse-gateway": f"{world.gate.access_key_id}:{world.gate.secret}",
    }
    status, body = raw.send(world.keyhouse.endpoint, "GET", "/gateway/verify" + path, envoy)
    assert (status, body["Resource"]) == (200, f"acs:orders:*:{world.account_id}:order/14"), body
    traefik = {
        **signed(),
        "host": world.keyhouse.endpoint,
        "x-forwarded-method": "GET",
        "x-forwarded-uri": path,
        "x-forwarded-host": world.gateway,
    }
    address = "/gateway/verify?" + urlencode(
        {"Service": "orders", "Gateway": f"{world.gate.access_key_id}:{world.gate.secret}"}
    )
    status, body = raw.send(world.keyhouse.endpoint, "GET", address, traefik)
    assert (status, body["Action"]) == (200, "orders:GetOrder"), body
    # The gateway's key never reaches the trail.
    found = events(world.root, EventAccessKeyId=world.alice.access_key_id)
    assert world.gate.secret not in json.dumps(found)


def test_the_body_is_checked_where_keyhouse_receives_it(world: World) -> None:
    """Envoy's with-body mode: the gateway sends the client's body along."""
    body = b'{"item":"tea"}'
    headers = raw.v3_headers(
        world.gateway,
        world.alice.access_key_id,
        world.alice.secret,
        "CreateOrder",
        VERSION,
        {},
        method="POST",
        path="/orders",
        body=body,
    )
    base = {
        **headers,
        "x-forwarded-method": "POST",
        "x-forwarded-uri": "/orders",
        "x-forwarded-host": world.gateway,
        "x-keyhouse-service": "orders",
        "x-keyhouse-gateway": f"{world.gate.access_key_id}:{world.gate.secret}",
        "host": world.keyhouse.endpoint,
    }
    changed = raw.send(world.keyhouse.endpoint, "POST", "/gateway/verify", base, b'{"item":"gin"}')
    assert (changed[0], changed[1]["Code"]) == (401, "SignatureDoesNotMatch")
    assert "x-acs-content-sha256" in changed[1]["Message"]
    assert hashlib.sha256(body).hexdigest() == headers["x-acs-content-sha256"]
    kept = raw.send(world.keyhouse.endpoint, "POST", "/gateway/verify", base, body)
    assert kept[0] == 200, kept


def test_managing_services_through_the_api(world: World) -> None:
    root = world.root
    listed = root.ims("ListServices")["Services"]["Service"]
    assert [s["ServiceName"] for s in listed] == ["orders"]
    shown = root.ims("GetService", ServiceName="orders")["Service"]
    assert shown["Routes"]["Route"][0]["Path"] == "/orders/{id}"
    assert shown["Actions"]["Action"] == ["orders:Ping"]
    with pytest.raises(ApiError) as refused:
        root.ims(
            "CreateService",
            ServiceName="orders",
            Routes=json.dumps(ROUTES),
            Actions=json.dumps(ACTIONS),
        )
    assert refused.value.code == "EntityAlreadyExists.Service"
    bad = [{"Method": "GET", "Path": "/x/{id}", "Resource": "acs:spare:*:*:{nope}"}]
    with pytest.raises(ApiError) as refused:
        root.ims("CreateService", ServiceName="spare", Routes=json.dumps(bad))
    assert refused.value.code == "InvalidParameter.Routes" and "{nope}" in refused.value.message
    for name in ("ims", "Bad_Name"):
        with pytest.raises(ApiError) as refused:
            root.ims("CreateService", ServiceName=name, Routes=json.dumps(ROUTES))
        assert refused.value.code == "InvalidParameter.ServiceName"
    # A route changed takes effect on the next request, through the cache.
    changed = [*ROUTES, {"Method": "GET", "Path": "/health", "Action": "orders:Health"}]
    root.ims("UpdateService", ServiceName="orders", Routes=json.dumps(changed))
    assert world.call(world.alice, "GET", "/health")[0] == 200
    root.ims("UpdateService", ServiceName="orders", Routes=json.dumps(ROUTES))
    assert world.call(world.alice, "GET", "/health") == (403, "Forbidden.NoRoute")
    with pytest.raises(ApiError) as refused:
        root.ims("GetService", ServiceName="ghost")
    assert refused.value.code == "EntityNotExist.Service"


def test_the_operators_service_commands_each_leave_one_event(world: World, tmp_path: Path) -> None:
    name = world.account["AccountName"]
    cli = world.keyhouse.cli
    routes = tmp_path / "routes.json"
    routes.write_text(json.dumps([{"Method": "GET", "Path": "/bills/{id}", "Action": "Get"}]))
    created = json.loads(
        cli(
            "service", "create", "--account", name, "--service", "billing", "--routes", f"@{routes}"
        ).stdout
    )
    assert created["Routes"][0]["Action"] == "billing:Get"
    updated = json.loads(
        cli(
            "service", "update", "--account", name, "--service", "billing", "--description", "bills"
        ).stdout
    )
    assert updated["Description"] == "bills" and updated["Routes"] == created["Routes"]
    listed = [
        json.loads(line)
        for line in cli("service", "list", "--account", name, "--json").stdout.splitlines()
    ]
    assert [s["ServiceName"] for s in listed] == ["billing", "orders"]
    world.call(world.alice, "GET", "/orders/77")
    world.call(world.alice, "GET", "/orders/secret")

    def shown() -> dict[str, Any] | None:
        out = cli("service", "show", "--account", name, "--service", "orders", "--json").stdout
        found: dict[str, Any] = json.loads(out)
        resources = {c["Resource"] for c in found["Calls"]}
        wanted = {f"acs:orders:*:{world.account_id}:order/{n}" for n in ("77", "secret")}
        return found if wanted <= resources else None

    orders = eventually(shown)
    assert orders is not None
    calls = {c["Resource"].rsplit("/", 1)[-1]: c for c in orders["Calls"]}
    assert calls["77"]["Result"] == "OK" and calls["secret"]["Result"] == "NoPermission"
    assert (
        calls["77"]["Caller"] == "alice" and calls["77"]["AccessKeyId"] == world.alice.access_key_id
    )
    text = cli("service", "show", "--account", name, "--service", "orders").stdout
    assert "/orders/{id}" in text and "NoPermission" in text
    assert world.alice.secret not in text and world.gate.secret not in text
    cli("service", "delete", "--account", name, "--service", "billing")
    refused = cli("service", "show", "--account", name, "--service", "billing", check=False)
    assert refused.returncode != 0 and "does not exist" in refused.stderr
    by_operator = [
        e["eventName"]
        for e in events(world.root, EventName="CreateService")
        + events(world.root, EventName="UpdateService")
        + events(world.root, EventName="DeleteService")
        if e["userIdentity"]["type"] == "operator"
    ]
    assert sorted(by_operator) == ["CreateService", "DeleteService", "UpdateService"]


def test_the_console_shows_services_their_calls_and_the_services_a_key_was_used_with(
    world: World, browser: Any
) -> None:
    name = world.account["AccountName"]
    world.keyhouse.cli("account", "set-password", "--name", name, input=PASSWORD + "\n")
    world.call(world.alice, "GET", "/orders/88")
    world.call(world.alice, "GET", "/orders/secret")
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        sign_in(page, world.keyhouse, name, PASSWORD)
        page.locator("nav.side").get_by_role("link", name="Protected services").click()
        page.get_by_role("link", name="orders", exact=True).click()
        expect(page.locator("#routes-table")).to_contain_text("/orders/{id}")
        expect(page.locator("#service-arn")).to_have_text(
            f"acs:keyhouse:*:{world.account_id}:service/orders"
        )
        calls = page.locator("#calls")
        expect(calls).to_contain_text(f"acs:orders:*:{world.account_id}:order/88")
        expect(calls.locator("tr.call", has_text="order/secret").first).to_contain_text(
            "NoPermission"
        )
        # A new service from the form; a route that breaks a rule keeps the draft.
        page.locator("nav.side").get_by_role("link", name="Protected services").click()
        page.get_by_label("Service name", exact=False).fill("stock")
        page.locator("#routes").fill('[{"Method": "GET", "Path": "/items/{id}"}]')
        page.get_by_role("button", name="Protect service").click()
        expect(page.locator("#flash-error")).to_contain_text("Actions")
        expect(page.locator("#routes")).to_have_value('[{"Method": "GET", "Path": "/items/{id}"}]')
        page.locator("#routes").fill('[{"Method": "GET", "Path": "/items/{id}", "Action": "Get"}]')
        page.get_by_role("button", name="Protect service").click()
        expect(page.locator("#routes-table")).to_contain_text("stock:Get")
        dialog = open_dialog(page, "delete-service")
        dialog.get_by_label("Type the service name to confirm").fill("stock")
        dialog.get_by_role("button", name="Delete service").click()
        expect(page.get_by_text("Service stock was deleted.")).to_be_visible()
        # A key's table says which services it was used with.
        page.goto(f"http://{world.keyhouse.endpoint}/console/users/alice/keys")
        used = page.locator(f"#key-{world.alice.access_key_id} .services-used")
        expect(used).to_contain_text("orders")
    finally:
        context.close()


def test_the_node_sdks_generic_call_through_the_gateway(world: World) -> None:
    alice = world.alice
    status, seen = node_call(world.gateway, alice.access_key_id, alice.secret, "GET", "/orders/9")
    assert status == 200, seen
    assert seen["keyhouse"]["x-keyhouse-principal-arn"] == f"acs:ram::{world.account_id}:user/alice"
    status, seen = node_call(
        world.gateway,
        alice.access_key_id,
        alice.secret,
        "POST",
        "/orders",
        action="CreateOrder",
        body={"item": "tea"},
    )
    assert status == 200 and json.loads(seen["body"]) == {"item": "tea"}
    assert node_call(world.gateway, alice.access_key_id, "x" * 30, "GET", "/orders/9") == (
        401,
        "SignatureDoesNotMatch",
    )
    assert node_call(world.gateway, alice.access_key_id, alice.secret, "GET", "/orders/secret") == (
        403,
        "NoPermission",
    )
    # A temporary credential through @alicloud/credentials, held to its session policy.
    temporary, token = _session(world, "node-orders")
    status, seen = node_call(world.gateway, *temporary, "GET", "/orders/1", token=token)
    assert status == 200 and seen["keyhouse"]["x-keyhouse-principal-type"] == "AssumedRoleUser"
    assert node_call(world.gateway, *temporary, "GET", "/orders/2", token=token) == (
        403,
        "NoPermission",
    )


# -- the middleware, for services without a gateway -----------------------------------------


@pytest.fixture(scope="module", params=["starlette", "flask"])
def framework(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def app(world: World, framework: str) -> Iterator[str]:
    verifier = Verifier(
        world.keyhouse.endpoint, "orders", world.gate.access_key_id, world.gate.secret
    )
    with serving(framework, verifier) as endpoint:
        yield endpoint


def _app_call(app: str, who: Caller, method: str, path: str, **kw: Any) -> tuple[int, Any]:
    return sdk_call(app, who.access_key_id, who.secret, method, path, **kw)


def test_middleware_allows_and_gives_the_handler_the_callers_identity(
    world: World, app: str
) -> None:
    status, seen = _app_call(app, world.alice, "GET", "/orders/42")
    assert status == 200, seen
    identity = seen["identity"]
    assert identity["principal_arn"] == f"acs:ram::{world.account_id}:user/alice"
    assert identity["account_id"] == world.account_id
    assert identity["action"] == "orders:GetOrder"
    assert identity["resource"] == f"acs:orders:*:{world.account_id}:order/42"
    assert identity["access_key_id"] == world.alice.access_key_id and identity["request_id"]
    status, seen = _app_call(
        app, world.alice, "POST", "/orders", action="CreateOrder", body={"item": "tea"}
    )
    assert status == 200 and json.loads(seen["body"]) == {"item": "tea"}


def test_middleware_refusals(world: World, app: str) -> None:
    wrong = Caller("alice", world.alice.access_key_id, "x" * len(world.alice.secret))
    assert _app_call(app, wrong, "GET", "/orders/1") == (401, "SignatureDoesNotMatch")
    assert _app_call(app, world.alice, "GET", "/orders/secret") == (403, "NoPermission")
    assert _app_call(app, world.alice, "GET", "/nowhere") == (403, "Forbidden.NoRoute")
    headers = _signed(world, world.alice, "GET", "/orders/2", host=app)
    assert raw.send(app, "GET", "/orders/2", headers)[0] == 200
    status, body = raw.send(app, "GET", "/orders/2", headers)
    assert (status, body["Code"]) == (401, "SignatureNonceUsed")
    skewed = _signed(world, world.alice, "GET", "/orders/3", host=app, date="2020-01-01T00:00:00Z")
    status, body = raw.send(app, "GET", "/orders/3", skewed)
    assert (status, body["Code"]) == (401, "InvalidTimeStamp.Expired")
    moved = _signed(world, world.alice, "GET", "/orders/4", host=app)
    status, body = raw.send(app, "GET", "/orders/5", moved)
    assert (status, body["Code"]) == (401, "SignatureDoesNotMatch")
    added = {**_signed(world, world.alice, "GET", "/orders/6", host=app), "x-acs-extra": "1"}
    status, body = raw.send(app, "GET", "/orders/6", added)
    assert (status, body["Code"]) == (401, "IncompleteSignature")


def test_middleware_checks_the_body_against_its_signed_hash(world: World, app: str) -> None:
    signed_body = b'{"item":"tea"}'
    headers = raw.v3_headers(
        app,
        world.alice.access_key_id,
        world.alice.secret,
        "CreateOrder",
        VERSION,
        {},
        method="POST",
        path="/orders",
        body=signed_body,
    )
    headers["content-type"] = "application/json"
    headers = {**headers}
    status, body = raw.send(app, "POST", "/orders", headers, b'{"item":"gin"}')
    assert (status, body["Code"]) == (401, "SignatureDoesNotMatch")
    assert "x-acs-content-sha256" in body["Message"]


def test_middleware_sees_revocation_on_the_next_request(world: World, app: str) -> None:
    name = f"rev{app.rsplit(':', 1)[1]}"
    who = world.user(name, doc({"Effect": "Allow", "Action": "orders:*", "Resource": "*"}))
    assert _app_call(app, who, "GET", "/orders/1")[0] == 200
    elsewhere = Api(
        "v3", world.other.endpoint, world.account["AccessKeyId"], world.account["AccessKeySecret"]
    )
    disable(elsewhere, _upn(world, name), who.access_key_id)
    assert _app_call(app, who, "GET", "/orders/1") == (401, "InvalidAccessKeyId.Inactive")


def test_middleware_network_policy_and_sts_session_policy(
    world: World, app: str, framework: str
) -> None:
    # The client's own address reaches Keyhouse (the middleware's is a trusted proxy).
    name = f"mw-net-{framework}"
    who = world.user(name, doc({"Effect": "Allow", "Action": "orders:*", "Resource": "*"}))
    fenced = {"Type": "ClassicWhiteList", "IPList": ["127.0.0.9/32"]}
    world.root.ims(
        "SetAccessKeyPolicy",
        UserPrincipalName=_upn(world, name),
        UserAccessKeyId=who.access_key_id,
        AccessKeyPolicy=json.dumps({"Version": 1, "Status": "Active", "Statements": [fenced]}),
    )
    path = "/orders/3"
    sent = _signed(world, who, "GET", path, host=app)
    assert raw.send(app, "GET", path, sent, source="127.0.0.9")[0] == 200
    refused = raw.send(
        app, "GET", path, _signed(world, who, "GET", path, host=app), source="127.0.0.8"
    )
    assert (refused[0], refused[1]["Code"]) == (401, "AccessKeyId.AccessPolicyDenied")
    # A role session, held to its session policy.
    temporary, token = _session(world, f"mw-{framework}")
    status, seen = sdk_call(app, *temporary, "GET", "/orders/1", token=token)
    assert status == 200 and seen["identity"]["principal_type"] == "AssumedRoleUser", seen
    assert sdk_call(app, *temporary, "GET", "/orders/2", token=token) == (403, "NoPermission")


def test_middleware_with_a_key_that_is_not_a_gateway_refuses_everything(
    world: World, framework: str
) -> None:
    not_gateway = Verifier(
        world.keyhouse.endpoint, "orders", world.alice.access_key_id, world.alice.secret
    )
    with serving(framework, not_gateway) as app:
        assert _app_call(app, world.alice, "GET", "/orders/1") == (403, "Forbidden.NotAGateway")
    unreachable = Verifier(
        f"127.0.0.1:{free_port()}", "orders", world.gate.access_key_id, world.gate.secret
    )
    with serving(framework, unreachable) as app:
        assert _app_call(app, world.alice, "GET", "/orders/1") == (503, "ServiceUnavailable")


# Last: it takes the store away.
def test_a_store_outage_is_503_at_the_gateway_never_an_allow(world: World) -> None:
    assert world.call(world.alice, "GET", "/orders/20")[0] == 200  # cached: the read is free
    with store_away(world.keyhouse):
        status, code = world.call(world.alice, "GET", "/orders/21")
    assert (status, code) == (503, "ServiceUnavailable")
    eventually(lambda: world.call(world.alice, "GET", "/orders/22")[0] == 200, seconds=30)
    # Requests that read the store too (its pool's connections were cut: a few 503s first).
    eventually(lambda: _listed(world), seconds=30)


def _listed(world: World) -> bool:
    try:
        world.root.ims("ListServices")
    except ApiError:
        return False
    return True


def test_the_readme_example_runs_as_written(tmp_path: Path) -> None:
    """The README's "Protecting your own APIs" block, run by bash against a real server, with
    only its ports and scratch folders moved (and the root pair filled in)."""
    from tests.integration.nginx import nginx_binary

    nginx_binary()  # skipped (failed in CI) without nginx
    root = Path(__file__).resolve().parents[2]
    text = (root / "README.md").read_text()
    block = text.split("<!-- protect-example:", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    server = Server(f"sqlite:///{tmp_path / 'k.db'}", tmp_path / "master.key", tmp_path).start()
    api_port, gateway_port = free_port(), free_port()
    ak, sk = server.bootstrap_credentials()
    script = (
        block.replace("<root AccessKeyId>", ak)
        .replace("<root secret>", sk)
        .replace("/tmp/api", str(tmp_path / "api"))
        .replace("/tmp/protect", str(tmp_path / "protect"))
        .replace("9000", str(api_port))
    )
    env = {
        **server.env(),
        "KEYHOUSE_ENDPOINT": server.endpoint,
        "PROTECT_API": f"127.0.0.1:{api_port}",
        "PROTECT_GATEWAY": f"127.0.0.1:{gateway_port}",
        "PROTECT_STATE": str(tmp_path / "protect-example.json"),
        "PATH": os.environ.get("PATH", "") + ":/usr/sbin",
    }
    out = tmp_path / "out.txt"
    try:
        # Into a file: nginx keeps the stderr it was started with (error_log stderr).
        with out.open("w") as sink:
            code = subprocess.run(
                ["bash", "-ec", script + "\nkill %1\n"],
                cwd=root,
                env=env,
                stdout=sink,
                stderr=subprocess.STDOUT,
                timeout=120,
            ).returncode
    finally:
        subprocess.run(
            ["nginx", "-p", str(tmp_path / "protect"), "-s", "stop"],
            env=env,
            capture_output=True,
            check=False,
        )
        server.stop()
    printed = out.read_text()
    assert code == 0, printed
    assert "GET /orders/42 through nginx: 200 '{\"order\": 42}\\n'" in printed, printed
    assert "orders:GetOrder by orders-reader" in printed
    assert ": allowed" in printed.splitlines()[-1] or ": allowed\n" in printed, printed
