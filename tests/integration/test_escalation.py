"""Privilege escalation tried as an attacker would, through the official SDKs, on both
backends: renaming oneself into a role's trust, roles whose trust outlives the named identity,
sessions that renew themselves, and probing other accounts' role names."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from tests.integration.conftest import expect_error
from tests.integration.raw import call_rpc
from tests.integration.sdk import Api
from tests.integration.server import Server
from tests.integration.steps import disable, eventually, make_key, make_user, user_id_of
from tests.integration.test_sts import assumer, temporary, trust


def doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "1", "Statement": list(statements)})


def may_assume_roles(root: Api, name: str, change: str = "AttachPolicyToUser") -> None:
    """Attach (or detach) the system policy that allows sts:AssumeRole on every role."""
    root.ram(change, UserName=name, PolicyName="AliyunSTSAssumeRoleAccess", PolicyType="System")


def role_may_assume_roles(root: Api, name: str, change: str = "AttachPolicyToRole") -> None:
    """The same for a role: its sessions may assume roles (role chaining)."""
    root.ram(change, RoleName=name, PolicyName="AliyunSTSAssumeRoleAccess", PolicyType="System")


def self_scoped(server: Server, root: Api, account: dict[str, Any], name: str) -> Api:
    """A user holding ram:* on its own user resource and sts:AssumeRole: what a team might
    grant so that people manage their own user."""
    me = root.sts("GetCallerIdentity")["AccountId"]
    user = assumer(server, root, account, name)
    root.ram(
        "CreatePolicy",
        PolicyName=f"self-{name}",
        PolicyDocument=doc(
            {"Effect": "Allow", "Action": "ram:*", "Resource": f"acs:ram:*:{me}:user/{name}"}
        ),
    )
    root.ram("AttachPolicyToUser", UserName=name, PolicyName=f"self-{name}", PolicyType="Custom")
    return user


def test_a_user_cannot_rename_itself_into_a_roles_trust(
    server: Server, root: Api, account: dict[str, Any]
) -> None:
    me = root.sts("GetCallerIdentity")["AccountId"]
    alice = make_user(root, account, "alice")
    alice_id = user_id_of(root, alice)
    root.ram(
        "CreateRole", RoleName="Admin", AssumeRolePolicyDocument=trust(f"acs:ram::{me}:user/alice")
    )
    root.ram(
        "AttachPolicyToRole",
        RoleName="Admin",
        PolicyName="AdministratorAccess",
        PolicyType="System",
    )
    root.ims("DeleteUser", UserPrincipalName=alice)  # alice left
    mallory = self_scoped(server, root, account, "mallory")
    arn = f"acs:ram::{me}:role/admin"
    expect_error("NoPermission", 403, mallory.sts, "AssumeRole", RoleArn=arn, RoleSessionName="x1")
    # The rename needs the permission on the new name as well: mallory has it on its own only.
    expect_error(
        "NoPermission", 403, mallory.ram, "UpdateUser", UserName="mallory", NewUserName="alice"
    )
    assert root.ram("GetUser", UserName="mallory")["User"]["UserName"] == "mallory"
    # Even renamed by someone who may (the root), the name is not the identity the trust
    # policy was bound to: the role stays out of reach.
    root.ram("UpdateUser", UserName="mallory", NewUserName="alice")
    assert mallory.sts("GetCallerIdentity")["Arn"].endswith(":user/alice")
    expect_error("NoPermission", 403, mallory.sts, "AssumeRole", RoleArn=arn, RoleSessionName="x2")
    # A user re-created under the name is no more alice than mallory is.
    root.ram("UpdateUser", UserName="alice", NewUserName="mallory")
    again = make_user(root, account, "alice")
    may_assume_roles(root, "alice")
    impostor_key = make_key(root, again)
    impostor = Api(
        "v3", server.endpoint, impostor_key["AccessKeyId"], impostor_key["AccessKeySecret"]
    )
    expect_error("NoPermission", 403, impostor.sts, "AssumeRole", RoleArn=arn, RoleSessionName="x3")
    # The identity the policy named still is trusted when it comes back from the bin.
    disable(root, again, impostor_key["AccessKeyId"])
    may_assume_roles(root, "alice", "DetachPolicyFromUser")
    root.ims("DeleteUser", UserPrincipalName=again)
    root.ims("RestoreUserFromRecycleBin", UserId=alice_id)
    may_assume_roles(root, "alice")
    real_key = make_key(root, alice)
    real = Api("v3", server.endpoint, real_key["AccessKeyId"], real_key["AccessKeySecret"])
    got = real.sts("AssumeRole", RoleArn=arn, RoleSessionName="back")
    assert got["AssumedRoleUser"]["Arn"].endswith("assumed-role/admin/back")
    # A trust policy naming a user or role of the account that does not exist is refused when
    # it is saved: there is nothing to bind it to.
    for missing in (f"acs:ram::{me}:user/nobody-yet", f"acs:ram::{me}:role/ghost"):
        expect_error(
            "MalformedPolicyDocument",
            400,
            root.ram,
            "CreateRole",
            RoleName="Later",
            AssumeRolePolicyDocument=trust(missing),
        )
        expect_error(
            "MalformedPolicyDocument",
            400,
            root.ram,
            "UpdateRole",
            RoleName="Admin",
            NewAssumeRolePolicyDocument=trust(missing),
        )


def test_a_role_trusting_a_role_binds_to_that_role(
    server: Server, root: Api, account: dict[str, Any]
) -> None:
    me = root.sts("GetCallerIdentity")["AccountId"]
    dev = assumer(server, root, account)
    root.ram("CreateRole", RoleName="Hop", AssumeRolePolicyDocument=trust(f"acs:ram::{me}:root"))
    role_may_assume_roles(root, "Hop")
    root.ram(
        "CreateRole", RoleName="Next", AssumeRolePolicyDocument=trust(f"acs:ram::{me}:role/hop")
    )
    hop = f"acs:ram::{me}:role/hop"
    first = temporary(server, dev.sts("AssumeRole", RoleArn=hop, RoleSessionName="a1"))
    assert first.sts("AssumeRole", RoleArn=f"acs:ram::{me}:role/next", RoleSessionName="b1")
    # Hop deleted and re-created under its name: Next does not trust the new one.
    role_may_assume_roles(root, "Hop", "DetachPolicyFromRole")
    root.ram("DeleteRole", RoleName="Hop")
    root.ram("CreateRole", RoleName="Hop", AssumeRolePolicyDocument=trust(f"acs:ram::{me}:root"))
    role_may_assume_roles(root, "Hop")
    second = temporary(server, dev.sts("AssumeRole", RoleArn=hop, RoleSessionName="a2"))
    expect_error(
        "NoPermission",
        403,
        second.sts,
        "AssumeRole",
        RoleArn=f"acs:ram::{me}:role/next",
        RoleSessionName="b2",
    )


def test_a_group_rename_needs_the_permission_on_the_new_name(
    server: Server, root: Api, account: dict[str, Any]
) -> None:
    me = root.sts("GetCallerIdentity")["AccountId"]
    root.ram("CreateGroup", GroupName="team")
    principal = make_user(root, account, "lead")
    root.ram(
        "CreatePolicy",
        PolicyName="team-only",
        PolicyDocument=doc(
            {"Effect": "Allow", "Action": "ram:*Group", "Resource": f"acs:ram:*:{me}:group/team"}
        ),
    )
    root.ram("AttachPolicyToUser", UserName="lead", PolicyName="team-only", PolicyType="Custom")
    key = make_key(root, principal)
    lead = Api("v3", server.endpoint, key["AccessKeyId"], key["AccessKeySecret"])
    assert lead.ram("UpdateGroup", GroupName="team", NewComments="ours")
    expect_error(
        "NoPermission", 403, lead.ram, "UpdateGroup", GroupName="team", NewGroupName="admins"
    )
    assert root.ram("GetGroup", GroupName="team")["Group"]["Comments"] == "ours"
    root.ram(
        "CreatePolicyVersion",
        PolicyName="team-only",
        SetAsDefault=True,
        PolicyDocument=doc(
            {"Effect": "Allow", "Action": "ram:*Group", "Resource": f"acs:ram:*:{me}:group/*"}
        ),
    )
    assert (
        lead.ram("UpdateGroup", GroupName="team", NewGroupName="admins")["Group"]["GroupName"]
        == "admins"
    )


def _expires(reply: dict[str, Any]) -> datetime:
    return datetime.strptime(reply["Credentials"]["Expiration"], "%Y-%m-%dT%H:%M:%SZ")


def test_a_session_cannot_renew_itself(server: Server, root: Api, account: dict[str, Any]) -> None:
    me = root.sts("GetCallerIdentity")["AccountId"]
    dev = assumer(server, root, account)
    root.ram(
        "CreateRole",
        RoleName="Loop",
        AssumeRolePolicyDocument=trust(f"acs:ram::{me}:root"),
        MaxSessionDuration=43200,
    )
    role_may_assume_roles(root, "Loop")
    arn = f"acs:ram::{me}:role/loop"
    long = dev.sts("AssumeRole", RoleArn=arn, RoleSessionName="long", DurationSeconds=43200)
    session = temporary(server, long)
    # Role chaining: at most an hour, as the vendor documents ...
    expect_error(
        "InvalidParameter.DurationSeconds",
        400,
        session.sts,
        "AssumeRole",
        RoleArn=arn,
        RoleSessionName="again",
        DurationSeconds=43200,
    )
    hop = session.sts("AssumeRole", RoleArn=arn, RoleSessionName="again", DurationSeconds=3600)
    assert (_expires(hop) - _expires(long)).total_seconds() < 0
    # ... and never past the session that asks: a short first session bounds its whole chain,
    # however often it re-assumes the role.
    short = dev.sts("AssumeRole", RoleArn=arn, RoleSessionName="short", DurationSeconds=1000)
    current = short
    for n in range(3):
        current = temporary(server, current).sts(
            "AssumeRole", RoleArn=arn, RoleSessionName=f"renew-{n}", DurationSeconds=3600
        )
        assert _expires(current) <= _expires(short), n
    assert _expires(current) == _expires(short)
    # The user and its key deleted: the chain still ends when the first session does, and
    # whois follows it back to the long-term key.
    last_key = current["Credentials"]["AccessKeyId"]
    temporary(server, current).sts("GetCallerIdentity")
    out = eventually(lambda: "Long-term key" in (o := server.cli("whois", last_key).stdout) and o)
    assert out, server.cli("whois", last_key).stdout
    assert f"Long-term key   {dev.access_key_id}" in out
    assert out.count("which was") == 3
    assert short["Credentials"]["AccessKeyId"] in out


def test_a_role_that_does_not_exist_is_refused_like_one_that_does_not_trust_the_caller(
    server: Server, root: Api, account: dict[str, Any]
) -> None:
    guest = server.create_account("g" + account["AccountName"][1:])
    guest_root = Api("v3", server.endpoint, guest["AccessKeyId"], guest["AccessKeySecret"])
    spy = assumer(server, guest_root, guest, "spy")
    me = root.sts("GetCallerIdentity")["AccountId"]
    root.ram(
        "CreateRole", RoleName="Private", AssumeRolePolicyDocument=trust(f"acs:ram::{me}:root")
    )
    key = {"AccessKeyId": spy.access_key_id, "AccessKeySecret": spy._secret}
    answers = []
    for name in ("private", "no-such-role"):
        status, body = call_rpc(
            server.endpoint,
            key,
            "AssumeRole",
            "2015-04-01",
            {"RoleArn": f"acs:ram::{me}:role/{name}", "RoleSessionName": "probe"},
        )
        del body["RequestId"], body["HostId"]
        answers.append((status, body))
    assert answers[0] == answers[1] and answers[0][0] == 403, answers
    assert answers[0][1]["Code"] == "NoPermission"
