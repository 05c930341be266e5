"""STS AssumeRole and temporary credentials through the official SDKs, on both backends: the
Python STS client assumes a role, then IMS/RAM/STS calls run with the temporary credentials in
V3, v2 and the legacy SDK."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import pytest

from tests.integration.conftest import expect_error
from tests.integration.raw import call_rpc
from tests.integration.sdk import FLAVOURS, Api
from tests.integration.server import Server
from tests.integration.steps import eventually, make_key, make_user
from tests.integration.test_audit import events


def trust(*principals: str, **condition: str) -> str:
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Action": "sts:AssumeRole",
        "Principal": {"RAM": list(principals)},
    }
    if condition:
        statement["Condition"] = {"StringEquals": condition}
    return json.dumps({"Version": "1", "Statement": [statement]})


def doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "1", "Statement": list(statements)})


def assumer(server: Server, root: Api, account: dict[str, Any], name: str = "dev") -> Api:
    """A RAM user allowed to assume roles (AliyunSTSAssumeRoleAccess), through the V3 SDK."""
    principal = make_user(root, account, name)
    root.ram(
        "AttachPolicyToUser",
        UserName=name,
        PolicyName="AliyunSTSAssumeRoleAccess",
        PolicyType="System",
    )
    key = make_key(root, principal)
    return Api("v3", server.endpoint, key["AccessKeyId"], key["AccessKeySecret"])


def temporary(server: Server, reply: dict[str, Any], flavour: str = "v3") -> Api:
    c = reply["Credentials"]
    return Api(flavour, server.endpoint, c["AccessKeyId"], c["AccessKeySecret"], c["SecurityToken"])


@pytest.fixture
def setup(server: Server, root: Api, account: dict[str, Any]) -> tuple[str, Api, dict[str, Any]]:
    me = root.sts("GetCallerIdentity")["AccountId"]
    role = root.ram(
        "CreateRole", RoleName="Reader", AssumeRolePolicyDocument=trust(f"acs:ram::{me}:root")
    )
    root.ram(
        "AttachPolicyToRole",
        RoleName="Reader",
        PolicyName="AliyunRAMReadOnlyAccess",
        PolicyType="System",
    )
    return me, assumer(server, root, account), role["Role"]


def test_a_user_assumes_a_role_and_every_sdk_uses_the_temporary_credentials(
    server: Server, root: Api, setup: tuple[str, Api, dict[str, Any]]
) -> None:
    me, dev, role = setup
    reply = dev.sts("AssumeRole", RoleArn=f"acs:ram::{me}:role/reader", RoleSessionName="ci-run.1")
    creds = reply["Credentials"]
    assert re.fullmatch(r"STS\.[A-Za-z0-9]{24}", creds["AccessKeyId"])
    assert len(creds["AccessKeySecret"]) >= 30 and creds["SecurityToken"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", creds["Expiration"])
    assert reply["AssumedRoleUser"] == {
        "AssumedRoleId": f"{role['RoleId']}:ci-run.1",
        "Arn": f"acs:ram::{me}:assumed-role/reader/ci-run.1",
    }
    for flavour in FLAVOURS:
        session = temporary(server, reply, flavour)
        who = session.sts("GetCallerIdentity")
        assert who["IdentityType"] == "AssumedRoleUser", flavour
        assert who["Arn"] == f"acs:ram::{me}:assumed-role/reader/ci-run.1"
        assert (
            who["RoleId"] == role["RoleId"] and who["PrincipalId"] == f"{role['RoleId']}:ci-run.1"
        )
        assert who["AccountId"] == me
        # The role's policies decide: read-only.
        names = [u["UserPrincipalName"] for u in session.ims("ListUsers")["Users"]["User"]]
        assert any(n.startswith("dev@") for n in names), flavour
        expect_error("NoPermission", 403, session.ram, "CreateUser", UserName=f"x{flavour}")
    # The trail names the role session and the long-term key that assumed it.
    found = eventually(
        lambda: [e for e in events(root) if e["userIdentity"]["type"] == "AssumedRoleUser"]
    )
    assert found
    identity = found[0]["userIdentity"]
    assert identity["principalId"] == f"{role['RoleId']}:ci-run.1"
    assert identity["accessKeyId"] == creds["AccessKeyId"]
    assert identity["sessionContext"]["sourceAccessKeyId"] == dev.access_key_id
    assert identity["sessionContext"]["sourceIdentity"] == "dev"
    assumed = [e for e in events(root, EventName="AssumeRole")]
    assert assumed and creds["AccessKeySecret"] not in json.dumps(assumed)
    assert creds["SecurityToken"] not in json.dumps(assumed)
    assert [e["eventName"] for e in events(root, ResourceName=creds["AccessKeyId"])].count(
        "AssumeRole"
    ) == 1


def test_a_session_policy_narrows_the_role(
    server: Server, setup: tuple[str, Api, dict[str, Any]]
) -> None:
    me, dev, _ = setup
    narrow = doc({"Effect": "Allow", "Action": "ram:GetUser", "Resource": "*"})
    reply = dev.sts(
        "AssumeRole", RoleArn=f"acs:ram::{me}:role/Reader", RoleSessionName="narrow", Policy=narrow
    )
    session = temporary(server, reply)
    assert session.ram("GetUser", UserName="dev")["User"]["UserName"] == "dev"
    expect_error("NoPermission", 403, session.ram, "ListUsers")  # the role may, the session not
    expect_error(
        "InvalidParameter.PolicyGrammar",
        400,
        dev.sts,
        "AssumeRole",
        RoleArn=f"acs:ram::{me}:role/Reader",
        RoleSessionName="bad",
        Policy="{not json",
    )


def test_detaching_or_deleting_the_role_takes_effect_on_the_next_request(
    server: Server, root: Api, setup: tuple[str, Api, dict[str, Any]]
) -> None:
    me, dev, _ = setup
    session = temporary(
        server, dev.sts("AssumeRole", RoleArn=f"acs:ram::{me}:role/Reader", RoleSessionName="s1")
    )
    assert session.ram("ListUsers")
    root.ram(
        "DetachPolicyFromRole",
        RoleName="Reader",
        PolicyName="AliyunRAMReadOnlyAccess",
        PolicyType="System",
    )
    expect_error("NoPermission", 403, session.ram, "ListUsers")
    assert session.sts("GetCallerIdentity")["IdentityType"] == "AssumedRoleUser"  # needs none
    root.ram("DeleteRole", RoleName="Reader")
    expect_error("InvalidSecurityToken.Malformed", 400, session.sts, "GetCallerIdentity")


def test_tokens_that_do_not_stand_are_refused(
    server: Server, root: Api, account: dict[str, Any], setup: tuple[str, Api, dict[str, Any]]
) -> None:
    me, dev, _ = setup
    creds = dev.sts("AssumeRole", RoleArn=f"acs:ram::{me}:role/Reader", RoleSessionName="t1")[
        "Credentials"
    ]
    other = dev.sts("AssumeRole", RoleArn=f"acs:ram::{me}:role/Reader", RoleSessionName="u1")[
        "Credentials"
    ]
    key, secret, token = creds["AccessKeyId"], creds["AccessKeySecret"], creds["SecurityToken"]
    tampered = token[:-6] + ("A" if token[-6] != "A" else "B") + token[-5:]
    cases = [
        (Api("v3", server.endpoint, key, secret, tampered), "InvalidSecurityToken.Malformed"),
        (Api("v3", server.endpoint, key, secret, "not-a-token"), "InvalidSecurityToken.Malformed"),
        (
            Api("v3", server.endpoint, key, secret, other["SecurityToken"]),
            "InvalidSecurityToken.MismatchWithAccessKey",
        ),
        (
            Api("v3", server.endpoint, dev.access_key_id, dev._secret, token),
            "InvalidSecurityToken.MismatchWithAccessKey",
        ),
        (Api("v3", server.endpoint, key, secret), "MissingSecurityToken"),
        (Api("v3", server.endpoint, key, "wrong-secret", token), "SignatureDoesNotMatch"),
    ]
    for api, code in cases:
        expect_error(code, 400, api.sts, "GetCallerIdentity")


def test_who_may_assume_which_role(
    server: Server, root: Api, account: dict[str, Any], setup: tuple[str, Api, dict[str, Any]]
) -> None:
    me, dev, _ = setup
    arn = f"acs:ram::{me}:role/Reader"
    # The account's root may not assume roles.
    expect_error("NoPermission", 403, root.sts, "AssumeRole", RoleArn=arn, RoleSessionName="r1")
    # A user without sts:AssumeRole may not, even when the trust policy names its account.
    plain = make_key(root, make_user(root, account, "plain"))
    no_grant = Api("v3", server.endpoint, plain["AccessKeyId"], plain["AccessKeySecret"])
    expect_error("NoPermission", 403, no_grant.sts, "AssumeRole", RoleArn=arn, RoleSessionName="r1")
    # A trust policy naming one user only: another user is refused.
    make_user(root, account, "alice")
    root.ram(
        "CreateRole",
        RoleName="OnlyAlice",
        AssumeRolePolicyDocument=trust(f"acs:ram::{me}:user/alice"),
    )
    expect_error(
        "NoPermission",
        403,
        dev.sts,
        "AssumeRole",
        RoleArn=f"acs:ram::{me}:role/onlyalice",
        RoleSessionName="r1",
    )
    # ExternalId, when the trust policy asks for one.
    root.ram(
        "CreateRole",
        RoleName="Vendor",
        AssumeRolePolicyDocument=trust(f"acs:ram::{me}:root", **{"sts:ExternalId": "abc-123"}),
        MaxSessionDuration=7200,
    )
    vendor = f"acs:ram::{me}:role/vendor"
    expect_error("NoPermission", 403, dev.sts, "AssumeRole", RoleArn=vendor, RoleSessionName="r1")
    expect_error(
        "NoPermission",
        403,
        dev.sts,
        "AssumeRole",
        RoleArn=vendor,
        RoleSessionName="r1",
        ExternalId="wrong1",
    )
    got = dev.sts(
        "AssumeRole",
        RoleArn=vendor,
        RoleSessionName="r1",
        ExternalId="abc-123",
        DurationSeconds=7200,
    )
    assert got["Credentials"]["AccessKeyId"].startswith("STS.")
    # Bad parameters, with the vendor's codes.
    for params, code in (
        ({"RoleArn": "acs:ram::1:user/x", "RoleSessionName": "r1"}, "InvalidParameter.RoleArn"),
        ({"RoleArn": arn, "RoleSessionName": "x"}, "InvalidParameter.RoleSessionName"),
        (
            {"RoleArn": arn, "RoleSessionName": "r1", "DurationSeconds": 899},
            "InvalidParameter.DurationSeconds",
        ),
        (
            {"RoleArn": arn, "RoleSessionName": "r1", "DurationSeconds": 3601},
            "InvalidParameter.DurationSeconds",
        ),
        (
            {"RoleArn": arn, "RoleSessionName": "r1", "ExternalId": "x"},
            "InvalidParameter.ExternalId",
        ),
    ):
        expect_error(code, 400, dev.sts, "AssumeRole", **params)
    # A role that does not exist is refused as one that does not trust the caller (no probing).
    expect_error(
        "NoPermission",
        403,
        dev.sts,
        "AssumeRole",
        RoleArn=f"acs:ram::{me}:role/ghost",
        RoleSessionName="r1",
    )


def test_another_account_assumes_a_role_its_trust_policy_allows(server: Server, root: Api) -> None:
    owner_id = root.sts("GetCallerIdentity")["AccountId"]
    guest = server.create_account(f"g{uuid.uuid4().hex[:10]}")
    guest_root = Api("v3", server.endpoint, guest["AccessKeyId"], guest["AccessKeySecret"])
    guest_id = guest_root.sts("GetCallerIdentity")["AccountId"]
    ops = assumer(server, guest_root, guest, "ops")
    root.ram(
        "CreateRole",
        RoleName="Partner",
        AssumeRolePolicyDocument=trust(f"acs:ram::{guest_id}:root"),
    )
    root.ram(
        "AttachPolicyToRole",
        RoleName="Partner",
        PolicyName="AliyunRAMReadOnlyAccess",
        PolicyType="System",
    )
    root.ram(
        "CreateRole",
        RoleName="Private",
        AssumeRolePolicyDocument=trust(f"acs:ram::{owner_id}:root"),
    )
    reply = ops.sts(
        "AssumeRole", RoleArn=f"acs:ram::{owner_id}:role/partner", RoleSessionName="audit"
    )
    session = temporary(server, reply, "v2")
    who = session.sts("GetCallerIdentity")
    assert who["AccountId"] == owner_id and who["Arn"].endswith("assumed-role/partner/audit")
    assert session.ims("GetDefaultDomain")  # acts in the owner's account
    expect_error(
        "NoPermission",
        403,
        ops.sts,
        "AssumeRole",
        RoleArn=f"acs:ram::{owner_id}:role/private",
        RoleSessionName="x1",
    )
    # The temporary credential's RPC form: SecurityToken as a signed parameter.
    c = reply["Credentials"]
    status, body = call_rpc(
        server.endpoint,
        {"AccessKeyId": c["AccessKeyId"], "AccessKeySecret": c["AccessKeySecret"]},
        "GetCallerIdentity",
        "2015-04-01",
        {"SecurityToken": c["SecurityToken"]},
    )
    assert status == 200 and body["IdentityType"] == "AssumedRoleUser", body


def test_whois_says_which_role_and_session_a_temporary_key_belongs_to(
    server: Server, setup: tuple[str, Api, dict[str, Any]]
) -> None:
    me, dev, _ = setup
    reply = dev.sts("AssumeRole", RoleArn=f"acs:ram::{me}:role/Reader", RoleSessionName="nightly")
    key = reply["Credentials"]["AccessKeyId"]
    temporary(server, reply).sts("GetCallerIdentity")
    out = eventually(
        lambda: "Last used from  127.0.0.1" in (o := server.cli("whois", key).stdout) and o
    )
    assert out, server.cli("whois", key).stdout
    assert f"Role            acs:ram::{me}:role/Reader" in out
    assert "Session         nightly" in out
    assert f"with {dev.access_key_id}" in out
    assert reply["Credentials"]["Expiration"] in out
    assert reply["Credentials"]["AccessKeySecret"] not in out


def test_the_cli_lists_roles_and_shows_who_assumed_them(
    server: Server, account: dict[str, Any], setup: tuple[str, Api, dict[str, Any]]
) -> None:
    me, dev, role = setup
    name = account["AccountName"]
    listed = [
        json.loads(line)
        for line in server.cli("role", "list", "--account", name, "--json").stdout.splitlines()
    ]
    assert [(r["RoleName"], r["Arn"]) for r in listed] == [("Reader", f"acs:ram::{me}:role/reader")]
    reply = dev.sts("AssumeRole", RoleArn=f"acs:ram::{me}:role/reader", RoleSessionName="cli-1")
    expect_error(
        "InvalidParameter.PolicyGrammar",
        400,
        dev.sts,
        "AssumeRole",
        RoleArn=f"acs:ram::{me}:role/reader",
        RoleSessionName="cli-2",
        Policy="not json",
    )

    def shown() -> dict[str, Any]:
        out = server.cli("role", "show", "--account", name, "--role", "READER", "--json")
        found: dict[str, Any] = json.loads(out.stdout)
        return found if len(found["Sessions"]) == 2 else {}

    shown_role = eventually(shown)
    assert shown_role, server.cli("role", "show", "--account", name, "--role", "Reader").stdout
    assert shown_role["RoleId"] == role["RoleId"]
    assert shown_role["Policies"] == [
        {"PolicyName": "AliyunRAMReadOnlyAccess", "PolicyType": "System"}
    ]
    assert shown_role["AssumeRolePolicyDocument"]["Statement"][0]["Action"] == "sts:AssumeRole"
    refused, assumed = shown_role["Sessions"]  # newest first
    assert assumed["Session"] == "cli-1" and assumed["Error"] == ""
    assert assumed["AccessKeyId"] == reply["Credentials"]["AccessKeyId"]
    assert assumed["SourceAccessKeyId"] == dev.access_key_id
    assert assumed["Expiration"] == reply["Credentials"]["Expiration"]
    assert refused["Session"] == "cli-2" and refused["Error"] and not refused["AccessKeyId"]
    text = server.cli("role", "show", "--account", name, "--role", "reader").stdout
    assert "cli-1" in text and dev.access_key_id in text
    assert reply["Credentials"]["AccessKeySecret"] not in text
    # A role that does not exist: the vendor's message, exit code 1.
    missing = server.cli("role", "show", "--account", name, "--role", "nope", check=False)
    assert missing.returncode == 1 and "The role does not exist" in missing.stderr
