"""Every action Keyhouse serves: its wire name, written once here, and its permission.

``Action.CreateUser`` is the action's name on the wire (a ``str``): the routes' key, the
audit event's name, and through ``.permission`` what a policy must allow (``ram:CreateUser``),
at which access level and on which kind of resource. IMS 2019-08-15 and RAM 2015-05-01 share
action names and permissions (IMS is the newer face of the same service). Resources follow
RAM's ARN form: ``acs:ram:*:<account id>:user/<name>``, ``group/<name>``, ``policy/<name>``,
and ``*`` for account-wide (list-level) actions.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum, auto


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
    ROLE = "role"
    SERVICE = "service"  # a protected service: acs:keyhouse:*:<account>:service/<name>
    MFA = "mfa"  # a virtual MFA device: its serial number, acs:ram::<account>:mfa/<name>
    NONE = "none"  # no permission needed (who am I?)


@dataclass(frozen=True, slots=True)
class Permission:
    action: str  # what a policy's Action element must match: "ram:CreateUser"
    level: Level
    scope: Scope

    @property
    def writes(self) -> bool:
        return self.level is Level.WRITE


class Action(StrEnum):
    """An action's wire name (``auto()`` is the member's own name)."""

    @staticmethod
    def _generate_next_value_(name: str, start: int, count: int, last_values: list[str]) -> str:
        return name

    @property
    def permission(self) -> Permission:
        return PERMISSIONS[self]

    # account settings
    GetDefaultDomain = auto()
    SetDefaultDomain = auto()
    GetSecurityPreference = auto()
    SetSecurityPreference = auto()
    GetAccessKeyPolicyForAccount = auto()
    SetAccessKeyPolicyForAccount = auto()
    # users
    CreateUser = auto()
    GetUser = auto()
    UpdateUser = auto()
    DeleteUser = auto()
    ListUsers = auto()
    ListUsersInRecycleBin = auto()
    GetUserInRecycleBin = auto()
    RestoreUserFromRecycleBin = auto()
    DeleteUserInRecycleBin = auto()
    # access keys
    CreateAccessKey = auto()
    UpdateAccessKey = auto()
    DeleteAccessKey = auto()
    ListAccessKeys = auto()
    GetAccessKeyLastUsed = auto()
    GetAccessKeyPolicy = auto()
    SetAccessKeyPolicy = auto()
    # console sign-in
    CreateLoginProfile = auto()
    GetLoginProfile = auto()
    UpdateLoginProfile = auto()
    DeleteLoginProfile = auto()
    # virtual MFA devices
    CreateVirtualMFADevice = auto()
    ListVirtualMFADevices = auto()
    DeleteVirtualMFADevice = auto()
    BindMFADevice = auto()
    UnbindMFADevice = auto()
    GetUserMFAInfo = auto()
    # "a list-level action on all resources" (seed: ram:ListAccessKeysInRecycleBin)
    ListAccessKeysInRecycleBin = auto()
    GetAccessKeyInfoInRecycleBin = auto()
    RestoreAccessKeyFromRecycleBin = auto()
    DeleteAccessKeyInRecycleBin = auto()
    # policies
    CreatePolicy = auto()
    GetPolicy = auto()
    DeletePolicy = auto()
    ListPolicies = auto()
    CreatePolicyVersion = auto()
    GetPolicyVersion = auto()
    ListPolicyVersions = auto()
    SetDefaultPolicyVersion = auto()
    DeletePolicyVersion = auto()
    AttachPolicyToUser = auto()
    DetachPolicyFromUser = auto()
    ListPoliciesForUser = auto()
    ListEntitiesForPolicy = auto()
    # groups
    CreateGroup = auto()
    GetGroup = auto()
    UpdateGroup = auto()
    ListGroups = auto()
    DeleteGroup = auto()
    AddUserToGroup = auto()
    RemoveUserFromGroup = auto()
    ListGroupsForUser = auto()
    ListUsersForGroup = auto()
    AttachPolicyToGroup = auto()
    DetachPolicyFromGroup = auto()
    ListPoliciesForGroup = auto()
    # roles
    CreateRole = auto()
    GetRole = auto()
    ListRoles = auto()
    UpdateRole = auto()
    DeleteRole = auto()
    AttachPolicyToRole = auto()
    DetachPolicyFromRole = auto()
    ListPoliciesForRole = auto()
    AssumeRole = auto()
    # credential report
    GenerateCredentialReport = auto()
    GetCredentialReport = auto()
    # ActionTrail
    LookupEvents = auto()
    # STS: asking who you are needs no permission
    GetCallerIdentity = auto()
    # Keyhouse's own: services protected by a gateway that asks Keyhouse (docs/protect.md)
    CreateService = auto()
    GetService = auto()
    UpdateService = auto()
    DeleteService = auto()
    ListServices = auto()
    VerifyRequest = auto()  # what a gateway's key needs: not a routed action


class Command(StrEnum):
    """What the local operator does from the command line that no wire action does: the
    names of those commands' events (the other commands' events take the wire action's name)."""

    @staticmethod
    def _generate_next_value_(name: str, start: int, count: int, last_values: list[str]) -> str:
        return name

    @property
    def writes(self) -> bool:
        return self in _COMMAND_WRITES

    CreateAccount = auto()
    GetAccount = auto()
    SetAccountPassword = auto()
    ProtectAccessKey = auto()
    UnprotectAccessKey = auto()
    WhoIs = auto()
    ListAccessKeyAttempts = auto()
    SimulateAccessKeyPolicy = auto()
    ResetMFADevice = auto()


_COMMAND_WRITES = frozenset(
    {
        Command.CreateAccount,
        Command.SetAccountPassword,
        Command.ProtectAccessKey,
        Command.UnprotectAccessKey,
        Command.ResetMFADevice,
    }
)

L, R, W = Level.LIST, Level.READ, Level.WRITE
A, U, G, P, N = Scope.ACCOUNT, Scope.USER, Scope.GROUP, Scope.POLICY, Scope.NONE
RO = Scope.ROLE
SV = Scope.SERVICE
MF = Scope.MFA


def _permissions(
    specs: dict[Action, tuple[Level, Scope] | tuple[Level, Scope, str]],
) -> dict[Action, Permission]:
    found = {}
    for action, (level, scope, *service) in specs.items():
        found[action] = Permission(f"{(service or ['ram'])[0]}:{action}", level, scope)
    missing = set(Action) - set(found)
    if missing:
        raise RuntimeError(f"actions without a permission: {sorted(missing)}")
    return found


PERMISSIONS: dict[Action, Permission] = _permissions(
    {
        # account settings
        Action.GetDefaultDomain: (R, A),
        Action.SetDefaultDomain: (W, A),
        Action.GetSecurityPreference: (R, A),
        Action.SetSecurityPreference: (W, A),
        Action.GetAccessKeyPolicyForAccount: (R, A),
        Action.SetAccessKeyPolicyForAccount: (W, A),
        # users
        Action.CreateUser: (W, U),
        Action.GetUser: (R, U),
        Action.UpdateUser: (W, U),
        Action.DeleteUser: (W, U),
        Action.ListUsers: (L, A),
        Action.ListUsersInRecycleBin: (L, A),
        Action.GetUserInRecycleBin: (R, U),
        Action.RestoreUserFromRecycleBin: (W, U),
        Action.DeleteUserInRecycleBin: (W, U),
        # access keys
        Action.CreateAccessKey: (W, U),
        Action.UpdateAccessKey: (W, U),
        Action.DeleteAccessKey: (W, U),
        Action.ListAccessKeys: (L, U),
        Action.GetAccessKeyLastUsed: (R, U),
        Action.GetAccessKeyPolicy: (R, U),
        Action.SetAccessKeyPolicy: (W, U),
        # console sign-in
        Action.CreateLoginProfile: (W, U),
        Action.GetLoginProfile: (R, U),
        Action.UpdateLoginProfile: (W, U),
        Action.DeleteLoginProfile: (W, U),
        # virtual MFA devices (resource: the serial number, acs:ram::<account>:mfa/<name>)
        Action.CreateVirtualMFADevice: (W, MF),
        Action.ListVirtualMFADevices: (L, A),
        Action.DeleteVirtualMFADevice: (W, MF),
        Action.BindMFADevice: (W, U),
        Action.UnbindMFADevice: (W, U),
        Action.GetUserMFAInfo: (R, U),
        # "a list-level action on all resources" (seed: ram:ListAccessKeysInRecycleBin)
        Action.ListAccessKeysInRecycleBin: (L, A),
        Action.GetAccessKeyInfoInRecycleBin: (R, U),
        Action.RestoreAccessKeyFromRecycleBin: (W, U),
        Action.DeleteAccessKeyInRecycleBin: (W, U),
        # policies
        Action.CreatePolicy: (W, P),
        Action.GetPolicy: (R, P),
        Action.DeletePolicy: (W, P),
        Action.ListPolicies: (L, A),
        Action.CreatePolicyVersion: (W, P),
        Action.GetPolicyVersion: (R, P),
        Action.ListPolicyVersions: (L, P),
        Action.SetDefaultPolicyVersion: (W, P),
        Action.DeletePolicyVersion: (W, P),
        Action.AttachPolicyToUser: (W, U),
        Action.DetachPolicyFromUser: (W, U),
        Action.ListPoliciesForUser: (L, U),
        Action.ListEntitiesForPolicy: (L, P),
        # groups
        Action.CreateGroup: (W, G),
        Action.GetGroup: (R, G),
        Action.UpdateGroup: (W, G),
        Action.ListGroups: (L, A),
        Action.DeleteGroup: (W, G),
        Action.AddUserToGroup: (W, G),
        Action.RemoveUserFromGroup: (W, G),
        Action.ListGroupsForUser: (L, U),
        Action.ListUsersForGroup: (L, G),
        Action.AttachPolicyToGroup: (W, G),
        Action.DetachPolicyFromGroup: (W, G),
        Action.ListPoliciesForGroup: (L, G),
        # roles
        Action.CreateRole: (W, RO),
        Action.GetRole: (R, RO),
        Action.ListRoles: (L, A),
        Action.UpdateRole: (W, RO),
        Action.DeleteRole: (W, RO),
        Action.AttachPolicyToRole: (W, RO),
        Action.DetachPolicyFromRole: (W, RO),
        Action.ListPoliciesForRole: (L, RO),
        # STS: assuming a role mints credentials, a write (a leak-protected key may not)
        Action.AssumeRole: (W, RO, "sts"),
        # credential report
        Action.GenerateCredentialReport: (W, A),
        Action.GetCredentialReport: (R, A),
        # ActionTrail
        Action.LookupEvents: (R, A, "actiontrail"),
        # STS: asking who you are needs no permission
        Action.GetCallerIdentity: (R, N, "sts"),
        # protected services
        Action.CreateService: (W, SV, "keyhouse"),
        Action.GetService: (R, SV, "keyhouse"),
        Action.UpdateService: (W, SV, "keyhouse"),
        Action.DeleteService: (W, SV, "keyhouse"),
        Action.ListServices: (L, A, "keyhouse"),
        Action.VerifyRequest: (R, SV, "keyhouse"),
    }
)

# What a RAM user may do to its own AccessKey pairs when the account's security preference
# AllowUserToManageAccessKeys is on, without any policy.
SELF_SERVICE_KEY_ACTIONS = frozenset(
    (
        Action.CreateAccessKey,
        Action.UpdateAccessKey,
        Action.DeleteAccessKey,
        Action.ListAccessKeys,
        Action.GetAccessKeyLastUsed,
        Action.ListAccessKeysInRecycleBin,
        Action.GetAccessKeyInfoInRecycleBin,
        Action.RestoreAccessKeyFromRecycleBin,
        Action.DeleteAccessKeyInRecycleBin,
    )
)


# A name no user can have: the resource a request is checked against when the user it names
# by ID does not exist. Only a caller allowed on every user (``user/*``) then learns that.
ANY_USER = "*"
