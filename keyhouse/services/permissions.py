"""Every API action's permission: its ``ram:<Action>`` name, access level and resource.

IMS 2019-08-15 and RAM 2015-05-01 share action names and permissions (IMS is the newer face of
the same service), so the table is keyed by action name; a test checks that every routed action
of every version has an entry. Resources follow RAM's ARN form:
``acs:ram:*:<account id>:user/<name>``, ``group/<name>``, ``policy/<name>``, and ``*`` for
account-wide (list-level) actions.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Level(StrEnum):
    LIST = "List"
    READ = "Read"
    WRITE = "Write"


class Scope(StrEnum):
    """What the resource of a request names."""

    ACCOUNT = "account"  # account-wide: acs:ram:*:<account>:*
    USER = "user"  # the user the request targets (the caller itself when none is named)
    GROUP = "group"
    POLICY = "policy"
    NONE = "none"  # no permission needed (who am I?)


@dataclass(frozen=True, slots=True)
class Permission:
    action: str
    level: Level
    scope: Scope


def _p(name: str, level: Level, scope: Scope, service: str = "ram") -> tuple[str, Permission]:
    return name, Permission(f"{service}:{name}", level, scope)


L, R, W = Level.LIST, Level.READ, Level.WRITE
A, U, G, P = Scope.ACCOUNT, Scope.USER, Scope.GROUP, Scope.POLICY

PERMISSIONS: dict[str, Permission] = dict(
    [
        # account settings
        _p("GetDefaultDomain", R, A),
        _p("SetDefaultDomain", W, A),
        _p("GetSecurityPreference", R, A),
        _p("SetSecurityPreference", W, A),
        _p("GetAccessKeyPolicyForAccount", R, A),
        _p("SetAccessKeyPolicyForAccount", W, A),
        # users
        _p("CreateUser", W, U),
        _p("GetUser", R, U),
        _p("UpdateUser", W, U),
        _p("DeleteUser", W, U),
        _p("ListUsers", L, A),
        _p("ListUsersInRecycleBin", L, A),
        _p("GetUserInRecycleBin", R, U),
        _p("RestoreUserFromRecycleBin", W, U),
        _p("DeleteUserInRecycleBin", W, U),
        # access keys
        _p("CreateAccessKey", W, U),
        _p("UpdateAccessKey", W, U),
        _p("DeleteAccessKey", W, U),
        _p("ListAccessKeys", L, U),
        _p("GetAccessKeyLastUsed", R, U),
        _p("GetAccessKeyPolicy", R, U),
        _p("SetAccessKeyPolicy", W, U),
        # console sign-in
        _p("CreateLoginProfile", W, U),
        _p("GetLoginProfile", R, U),
        _p("UpdateLoginProfile", W, U),
        _p("DeleteLoginProfile", W, U),
        # "a list-level action on all resources" (seed: ram:ListAccessKeysInRecycleBin)
        _p("ListAccessKeysInRecycleBin", L, A),
        _p("GetAccessKeyInfoInRecycleBin", R, U),
        _p("RestoreAccessKeyFromRecycleBin", W, U),
        _p("DeleteAccessKeyInRecycleBin", W, U),
        # policies
        _p("CreatePolicy", W, P),
        _p("GetPolicy", R, P),
        _p("DeletePolicy", W, P),
        _p("ListPolicies", L, A),
        _p("CreatePolicyVersion", W, P),
        _p("GetPolicyVersion", R, P),
        _p("ListPolicyVersions", L, P),
        _p("SetDefaultPolicyVersion", W, P),
        _p("DeletePolicyVersion", W, P),
        _p("AttachPolicyToUser", W, U),
        _p("DetachPolicyFromUser", W, U),
        _p("ListPoliciesForUser", L, U),
        _p("ListEntitiesForPolicy", L, P),
        # groups
        _p("CreateGroup", W, G),
        _p("GetGroup", R, G),
        _p("UpdateGroup", W, G),
        _p("ListGroups", L, A),
        _p("DeleteGroup", W, G),
        _p("AddUserToGroup", W, G),
        _p("RemoveUserFromGroup", W, G),
        _p("ListGroupsForUser", L, U),
        _p("ListUsersForGroup", L, G),
        _p("AttachPolicyToGroup", W, G),
        _p("DetachPolicyFromGroup", W, G),
        _p("ListPoliciesForGroup", L, G),
        # credential report
        _p("GenerateCredentialReport", W, A),
        _p("GetCredentialReport", R, A),
        # ActionTrail
        _p("LookupEvents", R, A, "actiontrail"),
        # STS: asking who you are needs no permission
        _p("GetCallerIdentity", R, Scope.NONE, "sts"),
    ]
)

# What a RAM user may do to its own AccessKey pairs when the account's security preference
# AllowUserToManageAccessKeys is on, without any policy.
SELF_SERVICE_KEY_ACTIONS = frozenset(
    f"ram:{a}"
    for a in (
        "CreateAccessKey",
        "UpdateAccessKey",
        "DeleteAccessKey",
        "ListAccessKeys",
        "GetAccessKeyLastUsed",
        "ListAccessKeysInRecycleBin",
        "GetAccessKeyInfoInRecycleBin",
        "RestoreAccessKeyFromRecycleBin",
        "DeleteAccessKeyInRecycleBin",
    )
)


def account_resource(account_id: str) -> str:
    return f"acs:ram:*:{account_id}:*"


def user_resource(account_id: str, user_name: str) -> str:
    return f"acs:ram:*:{account_id}:user/{user_name}"


def root_resource(account_id: str) -> str:
    return f"acs:ram:*:{account_id}:root"


def group_resource(account_id: str, group_name: str) -> str:
    return f"acs:ram:*:{account_id}:group/{group_name}"


def policy_resource(account_id: str, policy_name: str, policy_type: str = "Custom") -> str:
    """A custom policy's ARN in its account; a system policy's is the vendor's
    ``acs:ram:*:system:policy/<name>``, the same in every account."""
    owner = "system" if policy_type == "System" else account_id
    return f"acs:ram:*:{owner}:policy/{policy_name}"


# A name no user can have: the resource a request is checked against when the user it names
# by ID does not exist. Only a caller allowed on every user (``user/*``) then learns that.
ANY_USER = "*"
