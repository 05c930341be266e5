"""Permission policies through the official SDKs: every routed action by six personas, the
policy and group actions themselves, and how a refusal reads."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from keyhouse.app import route_table
from keyhouse.domain.actions import PERMISSIONS, SELF_SERVICE_KEY_ACTIONS, Action, Level, Scope
from tests.integration.conftest import expect_error, upn
from tests.integration.raw import call_rpc
from tests.integration.sdk import Api, ApiError
from tests.integration.server import Server
from tests.integration.steps import bin_key, make_key, make_user, user_id_of

NONE_POLICY = '{"Version":1,"Status":"Inactive","Statements":[]}'
GHOST_KEY = "LTAI" + "0" * 20


def doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "1", "Statement": list(statements)})


@dataclass
class Persona:
    name: str
    api: Api
    user: str | None  # user name, None for the root
    upn: str | None
    user_id: str | None
    active_key: str
    binned_key: str | None


@dataclass
class World:
    account: dict[str, Any]
    account_id: str
    domain: str
    victim: str  # a user the root acts on as "itself"
    victim_key: str
    binned_user_id: str


def _persona(server: Server, root: Api, account: dict[str, Any], name: str) -> Persona:
    principal = make_user(root, account, name)
    key = make_key(root, principal)
    spare = make_key(root, principal)["AccessKeyId"]
    bin_key(root, principal, spare)
    api = Api("v3", server.endpoint, key["AccessKeyId"], key["AccessKeySecret"])
    return Persona(
        name, api, name, principal, user_id_of(root, principal), key["AccessKeyId"], spare
    )


def _root_persona(root: Api, world: World) -> Persona:
    return Persona(
        "root",
        root,
        None,
        None,
        None,
        world.account["AccessKeyId"],
        None,
    )


# One call per routed action. ``target``: whose resource the call names — "self" (the persona,
# or for the root a user it manages), "other" (another user), "rename" (the persona's own user
# and a new name for it), or the permission's own scope.
Call = tuple[str, str, Callable[[Persona, World], dict[str, Any]], str]


def _me(p: Persona, w: World) -> str:
    return p.user or w.victim


def _me_upn(p: Persona, w: World) -> str:
    return p.upn or upn(w.account, w.victim)


def _my_key(p: Persona, w: World) -> str:
    return p.active_key if p.user else w.victim_key


def _me_upn_param(p: Persona, w: World) -> dict[str, Any]:
    return {"UserPrincipalName": _me_upn(p, w)}


def _me_param(p: Persona, w: World) -> dict[str, Any]:
    return {"UserName": _me(p, w)}


def _device_name(product: str) -> Callable[[Persona, World], dict[str, Any]]:
    return lambda p, w: {"VirtualMFADeviceName": f"{product}-{p.name}"}


def _device_serial(product: str) -> Callable[[Persona, World], dict[str, Any]]:
    return lambda p, w: {"SerialNumber": f"acs:ram::{w.account_id}:mfa/{product}-{p.name}"}


def _bind(
    product: str, who: Callable[[Persona, World], dict[str, Any]]
) -> Callable[[Persona, World], dict[str, Any]]:
    return lambda p, w: {
        **who(p, w),
        **_device_serial(product)(p, w),
        "AuthenticationCode1": "123456",
        "AuthenticationCode2": "654321",
    }


ROUTES = json.dumps([{"Method": "GET", "Path": "/orders/{id}", "Action": "orders:GetOrder"}])

CALLS: list[Call] = [
    # STS
    ("sts", "GetCallerIdentity", lambda p, w: {}, "none"),
    # ActionTrail and the credential report
    ("actiontrail", "LookupEvents", lambda p, w: {"MaxResults": 1}, "account"),
    ("ims", "GenerateCredentialReport", lambda p, w: {}, "account"),
    ("ims", "GetCredentialReport", lambda p, w: {}, "account"),
    # IMS account settings
    ("ims", "GetDefaultDomain", lambda p, w: {}, "account"),
    ("ims", "SetDefaultDomain", lambda p, w: {"DefaultDomainName": w.domain}, "account"),
    ("ims", "GetSecurityPreference", lambda p, w: {}, "account"),
    (
        "ims",
        "SetSecurityPreference",
        lambda p, w: {"AllowUserToManageAccessKeys": False},
        "account",
    ),
    ("ims", "GetAccessKeyPolicyForAccount", lambda p, w: {}, "account"),
    (
        "ims",
        "SetAccessKeyPolicyForAccount",
        lambda p, w: {"AccessKeyPolicy": NONE_POLICY},
        "account",
    ),
    # IMS users
    (
        "ims",
        "CreateUser",
        lambda p, w: {"UserPrincipalName": upn(w.account, f"new-{p.name}"), "DisplayName": "n"},
        "other",
    ),
    ("ims", "GetUser", lambda p, w: {"UserPrincipalName": _me_upn(p, w)}, "self"),
    (
        "ims",
        "UpdateUser",
        lambda p, w: {"UserPrincipalName": _me_upn(p, w), "NewDisplayName": "renamed"},
        "self",
    ),
    ("ims", "DeleteUser", lambda p, w: {"UserPrincipalName": _me_upn(p, w)}, "self"),
    ("ims", "ListUsers", lambda p, w: {}, "account"),
    ("ims", "ListUsersInRecycleBin", lambda p, w: {}, "account"),
    ("ims", "GetUserInRecycleBin", lambda p, w: {"UserId": w.binned_user_id}, "other"),
    ("ims", "RestoreUserFromRecycleBin", lambda p, w: {"UserId": w.binned_user_id}, "other"),
    ("ims", "DeleteUserInRecycleBin", lambda p, w: {"UserId": w.binned_user_id}, "other"),
    # IMS keys
    ("ims", "CreateAccessKey", lambda p, w: {"UserPrincipalName": _me_upn(p, w)}, "self"),
    (
        "ims",
        "UpdateAccessKey",
        lambda p, w: {
            "UserPrincipalName": _me_upn(p, w),
            "UserAccessKeyId": GHOST_KEY,
            "Status": "Inactive",
        },
        "self",
    ),
    (
        "ims",
        "DeleteAccessKey",
        lambda p, w: {"UserPrincipalName": _me_upn(p, w), "UserAccessKeyId": GHOST_KEY},
        "self",
    ),
    ("ims", "ListAccessKeys", lambda p, w: {"UserPrincipalName": _me_upn(p, w)}, "self"),
    (
        "ims",
        "GetAccessKeyLastUsed",
        lambda p, w: {"UserPrincipalName": _me_upn(p, w), "UserAccessKeyId": _my_key(p, w)},
        "self",
    ),
    (
        "ims",
        "GetAccessKeyPolicy",
        lambda p, w: {"UserPrincipalName": _me_upn(p, w), "UserAccessKeyId": _my_key(p, w)},
        "self",
    ),
    (
        "ims",
        "SetAccessKeyPolicy",
        lambda p, w: {
            "UserPrincipalName": _me_upn(p, w),
            "UserAccessKeyId": _my_key(p, w),
            "AccessKeyPolicy": NONE_POLICY,
        },
        "self",
    ),
    ("ims", "ListAccessKeysInRecycleBin", lambda p, w: {"UserId": p.user_id or ""}, "self"),
    # IMS login profiles (a weak password, or no profile: nothing changes)
    (
        "ims",
        "CreateLoginProfile",
        lambda p, w: {"UserPrincipalName": _me_upn(p, w), "Password": "weak"},
        "self",
    ),
    ("ims", "GetLoginProfile", lambda p, w: {"UserPrincipalName": _me_upn(p, w)}, "self"),
    (
        "ims",
        "UpdateLoginProfile",
        lambda p, w: {"UserPrincipalName": _me_upn(p, w), "PasswordResetRequired": True},
        "self",
    ),
    ("ims", "DeleteLoginProfile", lambda p, w: {"UserPrincipalName": _me_upn(p, w)}, "self"),
    # virtual MFA devices (IMS and RAM): a device's own resource, or the user it is bound to
    *[
        call
        for product, who in (("ims", _me_upn_param), ("ram", _me_param))
        for call in (
            (product, "CreateVirtualMFADevice", _device_name(product), "mfa"),
            (product, "ListVirtualMFADevices", lambda p, w: {}, "account"),
            (product, "DeleteVirtualMFADevice", _device_serial(product), "mfa"),
            (product, "BindMFADevice", _bind(product, who), "self"),
            (product, "UnbindMFADevice", who, "self"),
            (product, "GetUserMFAInfo", who, "self"),
        )
    ],
    (
        "ims",
        "GetAccessKeyInfoInRecycleBin",
        lambda p, w: {"UserAccessKeyId": p.binned_key or GHOST_KEY},
        "self",
    ),
    (
        "ims",
        "RestoreAccessKeyFromRecycleBin",
        lambda p, w: {"UserId": p.user_id or "", "UserAccessKeyId": GHOST_KEY},
        "self",
    ),
    (
        "ims",
        "DeleteAccessKeyInRecycleBin",
        lambda p, w: {"UserId": p.user_id or "", "UserAccessKeyId": GHOST_KEY},
        "self",
    ),
    # RAM users and keys
    ("ram", "CreateUser", lambda p, w: {"UserName": f"ram-{p.name}"}, "other"),
    ("ram", "GetUser", lambda p, w: {"UserName": _me(p, w)}, "self"),
    ("ram", "UpdateUser", lambda p, w: {"UserName": _me(p, w), "NewComments": "x"}, "self"),
    # A rename acts on the new name too: there and back, each needing both names.
    (
        "ram",
        "UpdateUser",
        lambda p, w: {"UserName": _me(p, w), "NewUserName": _me(p, w) + "-moved"},
        "rename",
    ),
    (
        "ims",
        "UpdateUser",
        lambda p, w: {
            "UserPrincipalName": upn(w.account, _me(p, w) + "-moved"),
            "NewUserPrincipalName": _me_upn(p, w),
        },
        "rename",
    ),
    ("ram", "DeleteUser", lambda p, w: {"UserName": _me(p, w)}, "self"),
    ("ram", "ListUsers", lambda p, w: {}, "account"),
    ("ram", "CreateAccessKey", lambda p, w: {"UserName": _me(p, w)}, "self"),
    (
        "ram",
        "UpdateAccessKey",
        lambda p, w: {"UserName": _me(p, w), "UserAccessKeyId": GHOST_KEY, "Status": "Inactive"},
        "self",
    ),
    (
        "ram",
        "DeleteAccessKey",
        lambda p, w: {"UserName": _me(p, w), "UserAccessKeyId": GHOST_KEY},
        "self",
    ),
    ("ram", "ListAccessKeys", lambda p, w: {"UserName": _me(p, w)}, "self"),
    (
        "ram",
        "GetAccessKeyLastUsed",
        lambda p, w: {"UserName": _me(p, w), "UserAccessKeyId": _my_key(p, w)},
        "self",
    ),
    # RAM policies
    (
        "ram",
        "CreatePolicy",
        lambda p, w: {
            "PolicyName": f"made-by-{p.name}",
            "PolicyDocument": doc({"Effect": "Allow", "Action": "ram:Get*", "Resource": "*"}),
        },
        "policy",
    ),
    ("ram", "GetPolicy", lambda p, w: {"PolicyName": "shared", "PolicyType": "Custom"}, "policy"),
    ("ram", "DeletePolicy", lambda p, w: {"PolicyName": "ghost"}, "policy"),
    ("ram", "ListPolicies", lambda p, w: {}, "account"),
    (
        "ram",
        "CreatePolicyVersion",
        lambda p, w: {
            "PolicyName": "shared",
            "PolicyDocument": doc({"Effect": "Allow", "Action": "ram:List*", "Resource": "*"}),
        },
        "policy",
    ),
    (
        "ram",
        "GetPolicyVersion",
        lambda p, w: {"PolicyName": "shared", "PolicyType": "Custom", "VersionId": "v1"},
        "policy",
    ),
    (
        "ram",
        "ListPolicyVersions",
        lambda p, w: {"PolicyName": "shared", "PolicyType": "Custom"},
        "policy",
    ),
    (
        "ram",
        "SetDefaultPolicyVersion",
        lambda p, w: {"PolicyName": "shared", "VersionId": "v1"},
        "policy",
    ),
    (
        "ram",
        "DeletePolicyVersion",
        lambda p, w: {"PolicyName": "shared", "VersionId": "v99"},
        "policy",
    ),
    (
        "ram",
        "AttachPolicyToUser",
        lambda p, w: {"UserName": _me(p, w), "PolicyName": "ghost", "PolicyType": "Custom"},
        "self",
    ),
    (
        "ram",
        "DetachPolicyFromUser",
        lambda p, w: {"UserName": _me(p, w), "PolicyName": "ghost", "PolicyType": "Custom"},
        "self",
    ),
    ("ram", "ListPoliciesForUser", lambda p, w: {"UserName": _me(p, w)}, "self"),
    (
        "ram",
        "ListEntitiesForPolicy",
        lambda p, w: {"PolicyName": "shared", "PolicyType": "Custom"},
        "policy",
    ),
    # RAM groups
    ("ram", "CreateGroup", lambda p, w: {"GroupName": f"g-{p.name}"}, "group"),
    ("ram", "GetGroup", lambda p, w: {"GroupName": "team"}, "group"),
    ("ram", "UpdateGroup", lambda p, w: {"GroupName": "team", "NewComments": "c"}, "group"),
    ("ram", "UpdateGroup", lambda p, w: {"GroupName": "team", "NewGroupName": "crew"}, "group"),
    ("ram", "UpdateGroup", lambda p, w: {"GroupName": "crew", "NewGroupName": "team"}, "group"),
    ("ram", "ListGroups", lambda p, w: {}, "account"),
    ("ram", "DeleteGroup", lambda p, w: {"GroupName": "ghost"}, "group"),
    (
        "ram",
        "AddUserToGroup",
        lambda p, w: {"GroupName": "ghost", "UserName": _me(p, w)},
        "group",
    ),
    (
        "ram",
        "RemoveUserFromGroup",
        lambda p, w: {"GroupName": "ghost", "UserName": _me(p, w)},
        "group",
    ),
    ("ram", "ListGroupsForUser", lambda p, w: {"UserName": _me(p, w)}, "self"),
    ("ram", "ListUsersForGroup", lambda p, w: {"GroupName": "team"}, "group"),
    (
        "ram",
        "AttachPolicyToGroup",
        lambda p, w: {"GroupName": "ghost", "PolicyName": "shared", "PolicyType": "Custom"},
        "group",
    ),
    (
        "ram",
        "DetachPolicyFromGroup",
        lambda p, w: {"GroupName": "ghost", "PolicyName": "shared", "PolicyType": "Custom"},
        "group",
    ),
    ("ram", "ListPoliciesForGroup", lambda p, w: {"GroupName": "team"}, "group"),
    # RAM roles
    (
        "ram",
        "CreateRole",
        lambda p, w: {"RoleName": f"r-{p.name}", "AssumeRolePolicyDocument": trust(w)},
        "role",
    ),
    ("ram", "GetRole", lambda p, w: {"RoleName": "ops-role"}, "role"),
    ("ram", "ListRoles", lambda p, w: {}, "account"),
    # Keyhouse's own: protected services (the generic call; no generated client has them)
    ("ims", "CreateService", lambda p, w: {"ServiceName": "orders", "Routes": ROUTES}, "service"),
    ("ims", "GetService", lambda p, w: {"ServiceName": "orders"}, "service"),
    ("ims", "ListServices", lambda p, w: {}, "account"),
    ("ims", "UpdateService", lambda p, w: {"ServiceName": "orders", "Description": "x"}, "service"),
    ("ims", "DeleteService", lambda p, w: {"ServiceName": "orders"}, "service"),
    ("ram", "UpdateRole", lambda p, w: {"RoleName": "ops-role", "NewDescription": "d"}, "role"),
    ("ram", "DeleteRole", lambda p, w: {"RoleName": "ghost"}, "role"),
    (
        "ram",
        "AttachPolicyToRole",
        lambda p, w: {"RoleName": "ghost", "PolicyName": "shared", "PolicyType": "Custom"},
        "role",
    ),
    (
        "ram",
        "DetachPolicyFromRole",
        lambda p, w: {"RoleName": "ghost", "PolicyName": "shared", "PolicyType": "Custom"},
        "role",
    ),
    ("ram", "ListPoliciesForRole", lambda p, w: {"RoleName": "ops-role"}, "role"),
    (
        "sts",
        "AssumeRole",
        lambda p, w: {
            "RoleArn": f"acs:ram::{w.account_id}:role/ops-role",
            "RoleSessionName": f"s-{p.name}",
        },
        "role",
    ),
]


def trust(w: World) -> str:
    """A trust policy letting any identity of the world's account assume the role."""
    statement = {
        "Effect": "Allow",
        "Action": "sts:AssumeRole",
        "Principal": {"RAM": [f"acs:ram::{w.account_id}:root"]},
    }
    return json.dumps({"Version": "1", "Statement": [statement]})


VERSIONS = {
    "ims": "2019-08-15",
    "ram": "2015-05-01",
    "sts": "2015-04-01",
    "actiontrail": "2020-07-06",
}


def test_the_matrix_covers_every_routed_action() -> None:
    covered = {(VERSIONS[product], action) for product, action, _, _ in CALLS}
    assert covered == set(route_table())
    assert {action for _, action in route_table()} <= set(PERMISSIONS)


def expected(persona: str, action: str, target: str) -> bool:
    """Whether the persona may perform the action (True) or must get NoPermission (False)."""
    permission = PERMISSIONS[Action(action)]
    if action == "AssumeRole" and persona == "root":
        return False  # an account's root may not assume roles
    if persona in {"root", "admin"} or permission.scope is Scope.NONE:
        return True
    if persona == "reader":
        # AliyunRAMReadOnlyAccess: ram:Get* and ram:List* (not Keyhouse's own keyhouse:*)
        return (
            permission.level in {Level.LIST, Level.READ}
            and action.startswith(("Get", "List"))
            and permission.action.startswith("ram:")
        )
    if persona == "scoped":  # ram:* on its own user resource only
        # Attaching a policy names two resources, the user and the policy: a grant on one's
        # own user alone must not let a user attach AdministratorAccess to itself.
        return (
            permission.scope is Scope.USER
            and target == "self"
            and action not in {"AttachPolicyToUser", "DetachPolicyFromUser"}
        )
    if persona == "selfserve":  # no policy; the account lets users manage their own keys
        return action in SELF_SERVICE_KEY_ACTIONS and target == "self"
    return False  # nobody: no policy at all


def _world(root: Api, account: dict[str, Any]) -> World:
    """What the calls act on: a user for the root to act on, a binned user, a custom policy
    and a group."""
    identity = root.sts("GetCallerIdentity")
    domain = root.ims("GetDefaultDomain")["DefaultDomainName"]
    victim = make_user(root, account, "victim")
    victim_key = make_key(root, victim)["AccessKeyId"]
    gone = make_user(root, account, "gone")
    gone_id = user_id_of(root, gone)
    root.ims("DeleteUser", UserPrincipalName=gone)
    root.ram(
        "CreatePolicy",
        PolicyName="shared",
        PolicyDocument=doc({"Effect": "Allow", "Action": "ram:GetUser", "Resource": "*"}),
    )
    root.ram("CreateGroup", GroupName="team")
    world = World(account, identity["AccountId"], domain, "victim", victim_key, gone_id)
    root.ram("CreateRole", RoleName="ops-role", AssumeRolePolicyDocument=trust(world))
    return world


@pytest.fixture
def world(server: Server, root: Api, account: dict[str, Any]) -> tuple[World, list[Persona]]:
    world = _world(root, account)
    people = {
        n: _persona(server, root, account, n) for n in ("nobody", "reader", "scoped", "admin")
    }
    root.ram(
        "AttachPolicyToUser",
        UserName="admin",
        PolicyName="AdministratorAccess",
        PolicyType="System",
    )
    root.ram(
        "AttachPolicyToUser",
        UserName="reader",
        PolicyName="AliyunRAMReadOnlyAccess",
        PolicyType="System",
    )
    mine = f"acs:ram:*:{world.account_id}:user/scoped"
    root.ram(
        "CreatePolicy",
        PolicyName="self-scoped",
        PolicyDocument=doc({"Effect": "Allow", "Action": "ram:*", "Resource": mine}),
    )
    root.ram("AttachPolicyToUser", UserName="scoped", PolicyName="self-scoped", PolicyType="Custom")
    # Refusal-prone personas go first: the root and the admin may change what later calls see.
    order = [people["nobody"], people["reader"], people["scoped"], people["admin"]]
    return world, [*order, _root_persona(root, world)]


def _outcome(persona: Persona, world: World, product: str, action: str, params: Any) -> str:
    try:
        persona.api.call(product, action, params(persona, world))
    except ApiError as exc:
        return exc.code
    return "ok"


def test_every_action_for_every_persona(server: Server, world: tuple[World, list[Persona]]) -> None:
    w, personas = world
    wrong: list[str] = []
    for persona in personas:
        for product, action, params, target in CALLS:
            got = _outcome(persona, w, product, action, params)
            allowed = expected(persona.name, action, target)
            if (got == "NoPermission") == allowed:
                wrong.append(f"{persona.name} {product}:{action} -> {got}")
    assert not wrong, "\n".join(wrong)


def test_a_user_allowed_to_manage_its_own_keys(server: Server) -> None:
    """The sixth persona lives in an account of its own: the preference is account-wide."""
    other = server.create_account(f"s{uuid.uuid4().hex[:12]}")
    root = Api("v3", server.endpoint, other["AccessKeyId"], other["AccessKeySecret"])
    persona = _persona(server, root, other, "selfserve")
    persona.name = "selfserve"
    before = root.ims("GetSecurityPreference")["SecurityPreference"]["AccessKeyPreference"]
    assert before["AllowUserToManageAccessKeys"] is False
    expect_error(
        "NoPermission", 403, persona.api.ims, "ListAccessKeys", UserPrincipalName=persona.upn
    )
    shown = root.ims("SetSecurityPreference", AllowUserToManageAccessKeys=True)
    assert shown["SecurityPreference"]["AccessKeyPreference"]["AllowUserToManageAccessKeys"]
    world = _world(root, other)
    wrong = []
    for product, action, params, target in CALLS:
        got = _outcome(persona, world, product, action, params)
        if (got == "NoPermission") == expected("selfserve", action, target):
            wrong.append(f"selfserve {product}:{action} -> {got}")
    assert not wrong, "\n".join(wrong)
    # It really manages its own keys: the matrix created a second pair; it disables and bins it.
    mine = persona.api.ims("ListAccessKeys")["AccessKeys"]["AccessKey"]
    extra = [k["AccessKeyId"] for k in mine if k["AccessKeyId"] != persona.active_key]
    assert len(extra) == 1
    persona.api.ims("UpdateAccessKey", UserAccessKeyId=extra[0], Status="Inactive")
    persona.api.ims("DeleteAccessKey", UserAccessKeyId=extra[0])
    binned = persona.api.ims("ListAccessKeysInRecycleBin", UserId=persona.user_id)
    assert extra[0] in [k["AccessKeyId"] for k in binned["AccessKeys"]["AccessKey"]]
    # ... but not anyone else's.
    expect_error(
        "NoPermission",
        403,
        persona.api.ims,
        "ListAccessKeys",
        UserPrincipalName=upn(other, "victim"),
    )


def test_a_refusal_says_who_was_refused_what(
    root: Api, server: Server, account: dict[str, Any]
) -> None:
    principal = make_user(root, account, "carol")
    key = make_key(root, principal)
    carol = Api("v3", server.endpoint, key["AccessKeyId"], key["AccessKeySecret"])
    status, body = call_rpc(server.endpoint, key, "ListUsers", "2019-08-15")
    assert status == 403 and body["Code"] == "NoPermission"
    detail = body["AccessDeniedDetail"]
    assert detail["AuthAction"] == "ram:ListUsers"
    assert detail["AuthPrincipalType"] == "SubUser"
    assert detail["AuthPrincipalDisplayName"] == "carol"
    assert detail["NoPermissionType"] == "ImplicitDeny"
    assert body["RequestId"] and "Recommend" in body
    # An explicit Deny through a group beats AdministratorAccess attached to the user.
    root.ram(
        "AttachPolicyToUser",
        UserName="carol",
        PolicyName="AdministratorAccess",
        PolicyType="System",
    )
    assert carol.ram("ListUsers")["Users"]
    root.ram(
        "CreatePolicy",
        PolicyName="no-users",
        PolicyDocument=doc({"Effect": "Deny", "Action": "ram:ListUsers", "Resource": "*"}),
    )
    root.ram("CreateGroup", GroupName="restricted")
    root.ram("AddUserToGroup", GroupName="restricted", UserName="carol")
    root.ram(
        "AttachPolicyToGroup", GroupName="restricted", PolicyName="no-users", PolicyType="Custom"
    )
    status, body = call_rpc(server.endpoint, key, "ListUsers", "2019-08-15")
    assert (status, body["AccessDeniedDetail"]["NoPermissionType"]) == (403, "ExplicitDeny")
    assert body["AccessDeniedDetail"]["PolicyType"] == "AccountLevelIdentityBasedPolicy"
    assert carol.ram("ListGroups")["Groups"]["Group"]  # everything else still allowed
    # Removing the user from the group lifts the Deny on the very next request.
    root.ram("RemoveUserFromGroup", GroupName="restricted", UserName="carol")
    assert carol.ram("ListUsers")["Users"]
    # Detaching AdministratorAccess takes it away on the very next request.
    root.ram(
        "DetachPolicyFromUser",
        UserName="carol",
        PolicyName="AdministratorAccess",
        PolicyType="System",
    )
    expect_error("NoPermission", 403, carol.ram, "ListUsers")


def test_conditions_on_source_address_and_transport(
    root: Api, server: Server, account: dict[str, Any]
) -> None:
    principal = make_user(root, account, "dave")
    key = make_key(root, principal)
    root.ram(
        "CreatePolicy",
        PolicyName="from-one",
        PolicyDocument=doc(
            {
                "Effect": "Allow",
                "Action": "ram:List*",
                "Resource": "*",
                "Condition": {"IpAddress": {"acs:SourceIp": "127.0.0.2/32"}},
            }
        ),
    )
    root.ram("AttachPolicyToUser", UserName="dave", PolicyName="from-one", PolicyType="Custom")

    def listing(source: str) -> int:
        status, _ = call_rpc(server.endpoint, key, "ListUsers", "2019-08-15", source=source)
        return status

    assert listing("127.0.0.2") == 200
    assert listing("127.0.0.1") == 403
    root.ram(
        "CreatePolicyVersion",
        PolicyName="from-one",
        SetAsDefault=True,
        PolicyDocument=doc(
            {
                "Effect": "Allow",
                "Action": "ram:List*",
                "Resource": "*",
                "Condition": {"Bool": {"acs:SecureTransport": "true"}},
            }
        ),
    )
    assert listing("127.0.0.2") == 403  # plain HTTP is not secure transport


def test_policy_lifecycle(root: Api, account: dict[str, Any]) -> None:
    allow_get = doc({"Effect": "Allow", "Action": "ram:Get*", "Resource": "*"})
    created = root.ram(
        "CreatePolicy", PolicyName="readers", PolicyDocument=allow_get, Description="read things"
    )["Policy"]
    assert (created["PolicyType"], created["DefaultVersion"]) == ("Custom", "v1")
    expect_error(
        "EntityAlreadyExists.Policy",
        409,
        root.ram,
        "CreatePolicy",
        PolicyName="readers",
        PolicyDocument=allow_get,
    )
    got = root.ram("GetPolicy", PolicyName="readers", PolicyType="Custom")
    assert json.loads(got["Policy"]["PolicyDocument"]) == json.loads(allow_get)
    assert got["DefaultPolicyVersion"]["VersionId"] == "v1"
    system = root.ram("GetPolicy", PolicyName="AliyunRAMReadOnlyAccess", PolicyType="System")
    assert system["Policy"]["PolicyType"] == "System"
    listed = root.ram("ListPolicies")["Policies"]["Policy"]
    names = [(p["PolicyType"], p["PolicyName"]) for p in listed]
    assert ("Custom", "readers") in names and ("System", "AdministratorAccess") in names
    page = root.ram("ListPolicies", MaxItems=2)
    assert page["IsTruncated"] and len(page["Policies"]["Policy"]) == 2
    rest = root.ram("ListPolicies", Marker=page["Marker"], MaxItems=100)["Policies"]["Policy"]
    assert len(page["Policies"]["Policy"]) + len(rest) == len(listed)
    # versions: at most 5; the default cannot be deleted
    for n in range(2, 6):
        v = root.ram("CreatePolicyVersion", PolicyName="readers", PolicyDocument=allow_get)
        assert v["PolicyVersion"]["VersionId"] == f"v{n}"
    expect_error(
        "LimitExceeded.Policy.Version",
        409,
        root.ram,
        "CreatePolicyVersion",
        PolicyName="readers",
        PolicyDocument=allow_get,
    )
    rotated = root.ram(
        "CreatePolicyVersion",
        PolicyName="readers",
        PolicyDocument=allow_get,
        RotateStrategy="DeleteOldestNonDefaultVersionWhenLimitExceeded",
        SetAsDefault=True,
    )
    assert rotated["PolicyVersion"]["VersionId"] == "v6"
    versions = root.ram("ListPolicyVersions", PolicyName="readers", PolicyType="Custom")
    ids = [v["VersionId"] for v in versions["PolicyVersions"]["PolicyVersion"]]
    assert ids == ["v1", "v3", "v4", "v5", "v6"]
    expect_error(
        "DeleteConflict.Policy.Version.Default",
        409,
        root.ram,
        "DeletePolicyVersion",
        PolicyName="readers",
        VersionId="v6",
    )
    root.ram("SetDefaultPolicyVersion", PolicyName="readers", VersionId="v1")
    root.ram("DeletePolicyVersion", PolicyName="readers", VersionId="v6")
    expect_error(
        "EntityNotExist.Policy.Version",
        404,
        root.ram,
        "GetPolicyVersion",
        PolicyName="readers",
        PolicyType="Custom",
        VersionId="v6",
    )
    # attached: delete refused (or cascades); a user with policies cannot be deleted
    principal = make_user(root, account, "erin")
    root.ram("AttachPolicyToUser", UserName="erin", PolicyName="readers", PolicyType="Custom")
    expect_error(
        "EntityAlreadyExists.User.Policy",
        409,
        root.ram,
        "AttachPolicyToUser",
        UserName="erin",
        PolicyName="readers",
        PolicyType="Custom",
    )
    entities = root.ram("ListEntitiesForPolicy", PolicyName="readers", PolicyType="Custom")
    assert [u["UserName"] for u in entities["Users"]["User"]] == ["erin"]
    mine = root.ram("ListPoliciesForUser", UserName="erin")["Policies"]["Policy"]
    assert [p["PolicyName"] for p in mine] == ["readers"]
    expect_error(
        "DeleteConflict.User.Policy", 409, root.ims, "DeleteUser", UserPrincipalName=principal
    )
    expect_error("DeleteConflict.Policy.User", 409, root.ram, "DeletePolicy", PolicyName="readers")
    root.ram("DeletePolicy", PolicyName="readers", CascadingDelete=True)
    assert root.ram("ListPoliciesForUser", UserName="erin")["Policies"]["Policy"] == []
    root.ims("DeleteUser", UserPrincipalName=principal)
    expect_error(
        "EntityNotExist.Policy",
        404,
        root.ram,
        "GetPolicy",
        PolicyName="readers",
        PolicyType="Custom",
    )


@pytest.mark.parametrize(
    ("document", "code"),
    [
        (
            doc(
                {
                    "Effect": "Allow",
                    "Action": "*",
                    "Resource": "*",
                    "Condition": {"NumericLessThan": {"acs:SourceIp": "1"}},
                }
            ),
            "InvalidParameter.PolicyDocument",
        ),
        (
            doc(
                {
                    "Effect": "Allow",
                    "Action": "*",
                    "Resource": "*",
                    "Condition": {"StringEquals": {"acs:MFAPresent": "true"}},
                }
            ),
            "InvalidParameter.PolicyDocument",
        ),
        ("{not json", "InvalidParameter.PolicyDocument"),
        (
            doc({"Effect": "Allow", "Action": "*", "Resource": "*", "Sid": "x" * 7000}),
            "InvalidParameter.PolicyDocument.Length",
        ),
    ],
)
def test_policies_keyhouse_cannot_enforce_exactly_are_refused(
    root: Api, document: str, code: str
) -> None:
    expect_error(code, 400, root.ram, "CreatePolicy", PolicyName="bad", PolicyDocument=document)
    expect_error(
        "EntityNotExist.Policy", 404, root.ram, "GetPolicy", PolicyName="bad", PolicyType="Custom"
    )


def test_groups(root: Api, account: dict[str, Any]) -> None:
    principal = make_user(root, account, "frank")
    group = root.ram("CreateGroup", GroupName="ops", Comments="on call")["Group"]
    assert group["GroupName"] == "ops" and group["GroupId"]
    expect_error("EntityAlreadyExists.Group", 409, root.ram, "CreateGroup", GroupName="ops")
    root.ram("AddUserToGroup", GroupName="ops", UserName="frank")
    expect_error(
        "EntityAlreadyExists.Group.User",
        409,
        root.ram,
        "AddUserToGroup",
        GroupName="ops",
        UserName="frank",
    )
    members = root.ram("ListUsersForGroup", GroupName="ops")["Users"]["User"]
    assert [m["UserName"] for m in members] == ["frank"]
    groups = root.ram("ListGroupsForUser", UserName="frank")["Groups"]["Group"]
    assert [g["GroupName"] for g in groups] == ["ops"]
    root.ram(
        "AttachPolicyToGroup",
        GroupName="ops",
        PolicyName="AliyunRAMReadOnlyAccess",
        PolicyType="System",
    )
    attached = root.ram("ListPoliciesForGroup", GroupName="ops")["Policies"]["Policy"]
    assert [p["PolicyName"] for p in attached] == ["AliyunRAMReadOnlyAccess"]
    expect_error(
        "DeleteConflict.User.Group", 409, root.ims, "DeleteUser", UserPrincipalName=principal
    )
    expect_error("DeleteConflict.Group.User", 409, root.ram, "DeleteGroup", GroupName="ops")
    root.ram("RemoveUserFromGroup", GroupName="ops", UserName="frank")
    expect_error("DeleteConflict.Group.Policy", 409, root.ram, "DeleteGroup", GroupName="ops")
    root.ram(
        "DetachPolicyFromGroup",
        GroupName="ops",
        PolicyName="AliyunRAMReadOnlyAccess",
        PolicyType="System",
    )
    renamed = root.ram("UpdateGroup", GroupName="ops", NewGroupName="sre")["Group"]
    assert renamed["GroupName"] == "sre"
    assert [g["GroupName"] for g in root.ram("ListGroups")["Groups"]["Group"]] == ["sre"]
    root.ram("DeleteGroup", GroupName="sre")
    expect_error("EntityNotExist.Group", 404, root.ram, "GetGroup", GroupName="sre")
    root.ims("DeleteUser", UserPrincipalName=principal)


def test_policy_and_group_actions_in_every_sdk_flavour(api: Api, account: dict[str, Any]) -> None:
    make_user(api, account, "gina")
    document = doc({"Effect": "Allow", "Action": ["ram:Get*", "ram:List*"], "Resource": "*"})
    api.ram("CreatePolicy", PolicyName="flavoured", PolicyDocument=document, Description="d")
    api.ram("AttachPolicyToUser", UserName="gina", PolicyName="flavoured", PolicyType="Custom")
    api.ram("CreateGroup", GroupName="flavours")
    api.ram("AddUserToGroup", GroupName="flavours", UserName="gina")
    got = api.ram("GetPolicy", PolicyName="flavoured", PolicyType="Custom")
    assert json.loads(got["Policy"]["PolicyDocument"]) == json.loads(document)
    mine = api.ram("ListPoliciesForUser", UserName="gina")["Policies"]["Policy"]
    assert [p["PolicyName"] for p in mine] == ["flavoured"]
    groups = api.ram("ListGroupsForUser", UserName="gina")["Groups"]["Group"]
    assert [g["GroupName"] for g in groups] == ["flavours"]
    preference = api.ims("GetSecurityPreference")["SecurityPreference"]
    assert preference["AccessKeyPreference"]["AllowUserToManageAccessKeys"] is False
    assert json.loads(api.ims("GetAccessKeyPolicyForAccount")["AccessKeyPolicy"]) == {
        "Version": 1,
        "Status": "Inactive",
        "Statements": [],
    }
