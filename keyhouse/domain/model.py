"""Domain entities as immutable values. Transitions return new values; storage persists them."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from keyhouse.domain import arn


class KeyStatus(StrEnum):
    ACTIVE = "Active"
    INACTIVE = "Inactive"


class KeyDeletion(StrEnum):
    """How an account deletes AccessKeys: into the recycle bin, or at once and for good."""

    RECYCLE_BIN = "recycle-bin"
    IMMEDIATE = "immediate"


@dataclass(frozen=True, slots=True)
class Account:
    account_id: str
    name: str
    default_domain: str
    key_deletion: KeyDeletion
    created_at: datetime
    # Security preference AllowUserToManageAccessKeys.
    allow_user_manage_keys: bool = False
    # Changes whenever any user's set of attached policies may have changed.
    grants_epoch: int = 0
    # Changes with every change to the account, its users or its AccessKeys (by trigger).
    cache_epoch: int = 0
    # Security preference MFAOperationForLogin: "mandatory" (every RAM user signs in to the
    # console with an MFA code, binding a device first if it has none) or "independent" (as
    # each login profile's MFABindRequired says).
    mfa_for_login: str = "independent"
    # Security preference AllowUserToManageMFADevices: a RAM user binds and unbinds its own.
    allow_user_manage_mfa: bool = True


@dataclass(frozen=True, slots=True)
class User:
    user_id: str
    account_id: str
    name: str
    display_name: str
    created_at: datetime
    updated_at: datetime
    comments: str = ""
    email: str = ""
    mobile_phone: str = ""
    last_login_at: datetime | None = None
    recycled_at: datetime | None = None
    delete_at: datetime | None = None
    tags: tuple[tuple[str, str], ...] = ()

    @property
    def in_bin(self) -> bool:
        return self.recycled_at is not None

    def principal_name(self, domain: str) -> str:
        return f"{self.name}@{domain}"

    def to_bin(self, now: datetime, delete_at: datetime) -> User:
        return dataclasses.replace(self, recycled_at=now, delete_at=delete_at)

    def from_bin(self, now: datetime) -> User:
        return dataclasses.replace(self, recycled_at=None, delete_at=None, updated_at=now)


@dataclass(frozen=True, slots=True)
class AccessKey:
    """An AccessKey pair's metadata. The secret never lives here: it is sealed in storage."""

    access_key_id: str
    account_id: str
    user_id: str | None  # None: a key of the account root
    status: KeyStatus
    created_at: datetime
    updated_at: datetime
    recycled_at: datetime | None = None
    delete_at: datetime | None = None
    last_used_at: datetime | None = None
    last_used_service: str = ""

    @property
    def in_bin(self) -> bool:
        return self.recycled_at is not None

    @property
    def is_live(self) -> bool:
        return self.recycled_at is None

    def with_status(self, status: KeyStatus, now: datetime) -> AccessKey:
        return dataclasses.replace(self, status=status, updated_at=now)

    def to_bin(self, now: datetime, delete_at: datetime) -> AccessKey:
        return dataclasses.replace(self, recycled_at=now, delete_at=delete_at, updated_at=now)

    def from_bin(self, now: datetime) -> AccessKey:
        """Restored keys come back Active with their old secret and CreateDate."""
        return dataclasses.replace(
            self, status=KeyStatus.ACTIVE, recycled_at=None, delete_at=None, updated_at=now
        )


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: an account root, a RAM user, or the local operator (CLI)."""

    kind: str  # "root" | "user" | "operator" | "assumed-role"
    account_id: str
    user_id: str | None = None
    user_name: str | None = None
    access_key_id: str | None = None
    # How this request reached us: condition keys acs:SourceIp and acs:SecureTransport.
    source_ip: str = ""
    secure_transport: bool = False
    # The key it signed with is under leak protection: write-level actions are refused.
    protected: bool = False
    # A role session (temporary credentials from STS AssumeRole).
    session: RoleSession | None = None

    @property
    def is_root(self) -> bool:
        return self.kind == "root"

    @property
    def is_operator(self) -> bool:
        return self.kind == "operator"


@dataclass(frozen=True, slots=True)
class RoleSession:
    """What a temporary credential stands for: a role, a session of it, and who assumed it."""

    role_id: str
    role_name: str
    name: str  # RoleSessionName
    expires_at: datetime
    policy: str | None  # the session policy given to AssumeRole, if any
    source_account_id: str  # who assumed the role: its account,
    source_name: str  # its user's or role's name,
    source_kind: str  # "user" | "assumed-role",
    source_access_key_id: str  # and the key it signed AssumeRole with

    @property
    def principal_id(self) -> str:
        return f"{self.role_id}:{self.name}"

    def arn(self, account_id: str) -> str:
        return arn.assumed_role_arn(account_id, self.role_name, self.name)


@dataclass(frozen=True, slots=True)
class NewSecret:
    """A freshly created pair; the only value that ever carries a plain secret out."""

    key: AccessKey
    secret: str = dataclasses.field(repr=False)


@dataclass(frozen=True, slots=True)
class CustomPolicy:
    """A permission policy written by the account; its documents are its versions."""

    account_id: str
    name: str
    description: str
    default_version: str
    next_version: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class PolicyVersion:
    version_id: str
    document: str
    created_at: datetime
    is_default: bool


@dataclass(frozen=True, slots=True)
class Group:
    group_id: str
    account_id: str
    name: str
    comments: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Attachment:
    """A policy attached to a user or group."""

    policy_type: str  # "System" | "Custom"
    policy_name: str
    attached_at: datetime


@dataclass(frozen=True, slots=True)
class LoginProfile:
    """A RAM user's console sign-in. The password itself is never kept, only its hash."""

    user_id: str
    password_hash: str = dataclasses.field(repr=False)
    status: str  # "Active" | "Inactive"
    password_reset_required: bool
    mfa_bind_required: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class MFADevice:
    """A virtual MFA device: its TOTP seed is sealed like every secret and shown only when the
    device is created."""

    serial_number: str  # acs:ram::<account>:mfa/<name>
    account_id: str
    name: str
    holder: str | None  # a user ID, keyhouse.domain.mfa.OWNER, or None while unbound
    created_at: datetime
    activated_at: datetime | None = None
    last_step: int = 0  # the last TOTP step accepted: a code is used once


@dataclass(frozen=True, slots=True)
class ConsoleSession:
    token_hash: str
    account_id: str
    user_id: str | None  # None: the account owner
    csrf: str
    must_change_password: bool
    created_at: datetime
    expires_at: datetime
    account_name: str = ""  # for the header: not stored, read with the session
    # What the session must do before any page: "" (nothing), "code" (give an MFA code),
    # "bind" (bind an MFA device, required by the login profile or the security preference).
    mfa_stage: str = ""


@dataclass(frozen=True, slots=True)
class Role:
    """A RAM role: whom its trust policy lets assume it, and for how long at most."""

    role_id: str
    account_id: str
    name: str
    description: str
    trust_policy: str
    max_session_duration: int
    created_at: datetime
    updated_at: datetime
    # The users and roles the trust policy names, bound to their IDs when it was saved
    # (keyhouse.domain.trust.Bindings): ("user", account, name) -> user ID, ("role", ...) ->
    # role ID.
    trust_bindings: Mapping[tuple[str, str, str], str] = dataclasses.field(default_factory=dict)

    @property
    def arn(self) -> str:
        """``acs:ram::<account>:role/<name>`` (:func:`keyhouse.domain.arn.role_arn`)."""
        return arn.role_arn(self.account_id, self.name)
