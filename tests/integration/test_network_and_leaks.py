"""Network access policies through real sockets from two loopback addresses, trusted proxies,
and leak protection with `keyhouse key protect` and `keyhouse scan`."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import expect_error, upn
from tests.integration.raw import call_rpc, rpc_query, send
from tests.integration.sdk import Api
from tests.integration.server import Server
from tests.integration.steps import make_key, make_user

IMS = "2019-08-15"
DENIED = (
    400,
    "AccessKeyId.AccessPolicyDenied",
    "Specified access key denied due to access policy.",
)


def policy(status: str, *ips: str, kind: str = "ClassicWhiteList", value: str = "") -> str:
    statement: dict[str, Any] = {"Type": kind, "IPList": list(ips)}
    if value:
        statement["Value"] = value
    return json.dumps({"Version": 1, "Status": status, "Statements": [statement]})


def from_(server: Server, key: dict[str, Any], source: str) -> tuple[int, str, str]:
    status, body = call_rpc(server.endpoint, key, "GetCallerIdentity", "2015-04-01", source=source)
    return status, body.get("Code", "ok"), body.get("Message", "")


def test_account_and_key_policies_from_two_addresses(
    server: Server, root: Api, account: dict[str, Any]
) -> None:
    principal = make_user(root, account, "app")
    key = make_key(root, principal)
    assert from_(server, key, "127.0.0.2")[0] == 200
    # Account level: only 127.0.0.1 (the root, calling from 127.0.0.1, keeps working).
    shown = root.ims("SetAccessKeyPolicyForAccount", AccessKeyPolicy=policy("Active", "127.0.0.1"))
    assert json.loads(shown["AccessKeyPolicy"])["Status"] == "Active"
    got = root.ims("GetAccessKeyPolicyForAccount")["AccessKeyPolicy"]
    assert json.loads(got) == json.loads(policy("Active", "127.0.0.1"))
    assert from_(server, key, "127.0.0.1")[0] == 200
    assert from_(server, key, "127.0.0.2") == DENIED
    # Key level, Active: replaces the account's for this key only.
    root.ims(
        "SetAccessKeyPolicy",
        UserPrincipalName=principal,
        UserAccessKeyId=key["AccessKeyId"],
        AccessKeyPolicy=policy("Active", "127.0.0.2/32"),
    )
    assert from_(server, key, "127.0.0.2")[0] == 200
    assert from_(server, key, "127.0.0.1") == DENIED
    # Key level, Inactive: kept, not enforced; the account's applies again.
    root.ims(
        "SetAccessKeyPolicy",
        UserPrincipalName=principal,
        UserAccessKeyId=key["AccessKeyId"],
        AccessKeyPolicy=policy("Inactive", "127.0.0.2/32"),
    )
    kept = root.ims(
        "GetAccessKeyPolicy", UserPrincipalName=principal, UserAccessKeyId=key["AccessKeyId"]
    )
    assert json.loads(kept["AccessKeyPolicy"])["Status"] == "Inactive"
    assert from_(server, key, "127.0.0.1")[0] == 200
    assert from_(server, key, "127.0.0.2") == DENIED
    # Account policy Inactive: nothing enforced.
    root.ims("SetAccessKeyPolicyForAccount", AccessKeyPolicy=policy("Inactive", "127.0.0.1"))
    assert from_(server, key, "127.0.0.2")[0] == 200
    # A VPC entry never matches a request no trusted proxy marked.
    root.ims(
        "SetAccessKeyPolicyForAccount",
        AccessKeyPolicy=policy("Active", "127.0.0.0/8", kind="VPCWhiteList", value="AllowAllVPC"),
    )
    assert from_(server, key, "127.0.0.2") == DENIED
    assert from_(server, key, "127.0.0.1") == DENIED
    # ... which locks the root out too: only the operator's store access remains.
    root_key = {
        "AccessKeyId": account["AccessKeyId"],
        "AccessKeySecret": account["AccessKeySecret"],
    }
    assert from_(server, root_key, "127.0.0.1") == DENIED


@pytest.mark.parametrize(
    "document",
    [
        "not json",
        '{"Status":"Active"}',
        '{"Version":1,"Status":"Sometimes","Statements":[]}',
        '{"Version":1,"Status":"Active","Statements":[{"Type":"ClassicWhiteList","IPList":["1.2.3.999"]}]}',
    ],
)
def test_malformed_network_policies_are_refused(root: Api, document: str) -> None:
    expect_error(
        "InvalidParameter.AccessKeyPolicy",
        400,
        root.ims,
        "SetAccessKeyPolicyForAccount",
        AccessKeyPolicy=document,
    )
    assert json.loads(root.ims("GetAccessKeyPolicyForAccount")["AccessKeyPolicy"])["Status"] == (
        "Inactive"
    )


def test_forwarded_addresses_count_only_from_trusted_proxies(proxied: Server) -> None:
    account = proxied.create_account(f"p{uuid.uuid4().hex[:10]}")
    key = {"AccessKeyId": account["AccessKeyId"], "AccessKeySecret": account["AccessKeySecret"]}
    root = Api("v3", proxied.endpoint, key["AccessKeyId"], key["AccessKeySecret"])
    root.ims(
        "SetAccessKeyPolicyForAccount",
        AccessKeyPolicy=json.dumps(
            {
                "Version": 1,
                "Status": "Active",
                "Statements": [
                    {"Type": "ClassicWhiteList", "IPList": ["127.0.0.1", "192.0.2.10"]},
                    {"Type": "VPCWhiteList", "Value": "vpc-abc", "IPList": ["10.0.0.0/8"]},
                ],
            }
        ),
    )

    def call(source: str, headers: dict[str, str]) -> int:
        query = rpc_query(
            key["AccessKeyId"], key["AccessKeySecret"], "GetCallerIdentity", "2015-04-01"
        )
        from urllib.parse import urlencode

        status, _ = send(
            proxied.endpoint,
            "POST",
            "/?" + urlencode(query),
            {"host": proxied.endpoint, **headers},
            source=source,
        )
        return status

    forwarded = {"x-forwarded-for": "192.0.2.10"}
    assert call("127.0.0.3", forwarded) == 200  # the proxy vouches for 192.0.2.10
    assert call("127.0.0.2", forwarded) == 400  # anyone else's header is ignored
    assert call("127.0.0.3", {"x-forwarded-for": "198.51.100.1"}) == 400
    vpc = {"x-forwarded-for": "10.1.2.3", "x-keyhouse-vpc-id": "vpc-abc"}
    assert call("127.0.0.3", vpc) == 200
    assert call("127.0.0.3", {**vpc, "x-keyhouse-vpc-id": "vpc-other"}) == 400
    assert call("127.0.0.2", {"x-keyhouse-vpc-id": "vpc-abc"}) == 400


LEAK = "There is a risk of leakage of this AccessKey"


def test_a_protected_key_may_read_but_not_write(
    server: Server, root: Api, account: dict[str, Any]
) -> None:
    principal = make_user(root, account, "leaky")
    root.ram(
        "AttachPolicyToUser",
        UserName="leaky",
        PolicyName="AliyunRAMFullAccess",
        PolicyType="System",
    )
    key = make_key(root, principal)
    leaky = Api("v3", server.endpoint, key["AccessKeyId"], key["AccessKeySecret"])
    out = server.cli("key", "protect", key["AccessKeyId"], "--reason", "found in a public repo")
    assert "protection" in out.stdout
    assert leaky.ims("ListAccessKeys", UserPrincipalName=principal)["AccessKeys"]["AccessKey"]
    assert leaky.ims("GetUser", UserPrincipalName=principal)["User"]["DisplayName"] == "leaky"
    error = expect_error(
        "AccessKeyId.LeakageRisk",
        403,
        leaky.ims,
        "CreateUser",
        UserPrincipalName=upn(account, "more"),
        DisplayName="more",
    )
    assert LEAK in error.message
    status, body = call_rpc(
        server.endpoint,
        key,
        "CreateUser",
        IMS,
        {"UserPrincipalName": upn(account, "more"), "DisplayName": "more"},
    )
    assert (status, body["Code"]) == (403, "AccessKeyId.LeakageRisk")
    assert body["Message"].startswith(LEAK)
    expect_error(
        "AccessKeyId.LeakageRisk",
        403,
        leaky.ims,
        "UpdateAccessKey",
        UserPrincipalName=principal,
        UserAccessKeyId=key["AccessKeyId"],
        Status="Inactive",
    )
    expect_error(
        "EntityNotExist.User", 404, root.ims, "GetUser", UserPrincipalName=upn(account, "more")
    )
    server.cli("key", "unprotect", key["AccessKeyId"])
    leaky.ims("CreateUser", UserPrincipalName=upn(account, "more"), DisplayName="more")
    missing = server.cli("key", "protect", "LTAI" + "9" * 20, "--reason", "x", check=False)
    assert missing.returncode == 1 and "no AccessKey" in missing.stderr


def test_scan_finds_confirmed_and_suspected_leaks(
    server: Server, root: Api, account: dict[str, Any], tmp_path: Path
) -> None:
    principal = make_user(root, account, "scanned")
    confirmed = make_key(root, principal)
    suspect = make_key(root, principal)
    repo = tmp_path / "repo"
    (repo / "conf").mkdir(parents=True)
    (repo / "conf" / "app.ini").write_text(
        "[aliyun]\n"
        f"access_key_id = {confirmed['AccessKeyId']}\n"
        f"access_key_secret = {confirmed['AccessKeySecret']}\n"
    )
    (repo / "notes.md").write_text(
        f"old key {suspect['AccessKeyId']} was rotated; secret was {'x' * 30}\n"
        f"and {'LTAI' + 'Q' * 20} belongs to nobody here\n"
    )
    (repo / "blob.bin").write_bytes(b"\x00\x01" + confirmed["AccessKeyId"].encode())
    result = server.cli("scan", str(repo), "--json", check=False)
    assert result.returncode == 1
    for secret in (confirmed["AccessKeySecret"], suspect["AccessKeySecret"]):
        assert secret not in result.stdout + result.stderr
    findings = {f["access_key_id"]: f for f in json.loads(result.stdout)}
    assert findings[confirmed["AccessKeyId"]]["finding"] == "confirmed"
    assert findings[confirmed["AccessKeyId"]]["owner"] == f"{account['AccountName']}/scanned"
    assert findings[confirmed["AccessKeyId"]]["file"].endswith("app.ini")
    assert findings[confirmed["AccessKeyId"]]["line"] == 2
    assert findings[suspect["AccessKeyId"]]["finding"] == "suspect"
    assert findings["LTAI" + "Q" * 20]["owner"] == ""
    # stdin, table output, then --protect puts the confirmed key (only) under protection
    table = server.cli("scan", "-", check=False, input=(repo / "notes.md").read_text())
    assert table.returncode == 0 and "suspect" in table.stdout and "WHERE" in table.stdout
    server.cli("scan", str(repo), "--protect", check=False)
    leaked = Api("v3", server.endpoint, confirmed["AccessKeyId"], confirmed["AccessKeySecret"])
    root.ram(
        "AttachPolicyToUser",
        UserName="scanned",
        PolicyName="AliyunRAMFullAccess",
        PolicyType="System",
    )
    expect_error("AccessKeyId.LeakageRisk", 403, leaked.ims, "CreateAccessKey")
    other = Api("v3", server.endpoint, suspect["AccessKeyId"], suspect["AccessKeySecret"])
    other.ims("UpdateAccessKey", UserAccessKeyId=suspect["AccessKeyId"], Status="Active")
