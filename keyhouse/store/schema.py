"""The relational schema. Portable SQL only: the same tables on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    true,
)
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator[object]):
    """Aware UTC datetimes in, aware UTC datetimes out, on both SQLite and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):  # type: ignore[no-untyped-def]
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetimes are not stored")
        return value

    def process_result_value(self, value, dialect):  # type: ignore[no-untyped-def]
        from datetime import UTC

        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


accounts = Table(
    "accounts",
    metadata,
    Column("account_id", String(16), primary_key=True),
    Column("name", String(64), nullable=False),
    Column("default_domain", String(128), nullable=False),
    Column("key_deletion", String(16), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    # Security preference: RAM users may manage their own AccessKey pairs without a policy.
    Column("allow_user_manage_keys", Boolean(), nullable=False, server_default=false()),
    # Bumped by every change to who holds which policy (attachments, memberships, default
    # versions): a cached set of a user's grants is good while the account still shows its epoch.
    Column("grants_epoch", Integer(), nullable=False, server_default="0"),
    # The account-wide network access policy (JSON text, as set), or NULL for none.
    Column("network_policy", Text(), nullable=True),
    # Security preference MFAOperationForLogin ("mandatory" | "independent") and
    # AllowUserToManageMFADevices (migration 0012).
    Column("mfa_for_login", String(16), nullable=False, server_default="independent"),
    Column("allow_user_manage_mfa", Boolean(), nullable=False, server_default=true()),
    UniqueConstraint("name"),
    UniqueConstraint("default_domain"),
)

# Bumped by database triggers (migration 0007) on every change to the account, its users or its
# AccessKeys (but their last-used note): what keyhouse.store.cache checks cached answers against.
cache_epochs = Table(
    "cache_epochs",
    metadata,
    Column("account_id", String(16), primary_key=True),
    Column("epoch", BigInteger(), nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("user_id", String(16), primary_key=True),
    Column("account_id", String(16), ForeignKey("accounts.account_id"), nullable=False),
    Column("name", String(64), nullable=False),
    # The name while the user is live, NULL while it is binned: a portable partial unique key.
    Column("live_name", String(64), nullable=True),
    Column("display_name", String(128), nullable=False),
    Column("comments", String(128), nullable=False, default=""),
    Column("email", String(128), nullable=False, default=""),
    Column("mobile_phone", String(32), nullable=False, default=""),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("last_login_at", UTCDateTime(), nullable=True),
    Column("recycled_at", UTCDateTime(), nullable=True),
    Column("delete_at", UTCDateTime(), nullable=True),
    UniqueConstraint("account_id", "live_name"),
    Index(None, "account_id", "recycled_at"),
    Index(None, "delete_at"),
)

user_tags = Table(
    "user_tags",
    metadata,
    Column("user_id", String(16), ForeignKey("users.user_id"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("tag_key", String(128), nullable=False),
    Column("tag_value", String(128), nullable=False),
)

access_keys = Table(
    "access_keys",
    metadata,
    Column("access_key_id", String(32), primary_key=True),
    Column("account_id", String(16), ForeignKey("accounts.account_id"), nullable=False),
    Column("user_id", String(16), ForeignKey("users.user_id"), nullable=True),
    Column("status", String(8), nullable=False),
    Column("secret_key_id", String(32), nullable=False),
    Column("secret_sealed", LargeBinary, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("recycled_at", UTCDateTime(), nullable=True),
    Column("delete_at", UTCDateTime(), nullable=True),
    Column("last_used_at", UTCDateTime(), nullable=True),
    Column("last_used_service", String(16), nullable=False, default=""),
    # The key's own network access policy (JSON text, as set), or NULL for none.
    Column("network_policy", Text(), nullable=True),
    # Restrictive protection against a suspected leak: write-level actions are refused.
    Column("protected_reason", String(256), nullable=True),
    Column("protected_at", UTCDateTime(), nullable=True),
    Index(None, "account_id", "user_id"),
    Index(None, "user_id"),
    Index(None, "delete_at"),
)

nonces = Table(
    "nonces",
    metadata,
    Column("access_key_id", String(32), primary_key=True),
    Column("nonce", String(64), primary_key=True),
    Column("expires_at", UTCDateTime(), nullable=False),
    Index(None, "expires_at"),
)

# A lease names the one instance allowed to run a job (the retention sweep) until it expires;
# an instance that dies mid-job loses it by expiry, and another picks the job up.
leases = Table(
    "leases",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("holder", String(64), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
)

# Custom permission policies; system policies live in code (keyhouse.domain.policy).
policies = Table(
    "policies",
    metadata,
    Column("account_id", String(16), ForeignKey("accounts.account_id"), primary_key=True),
    Column("name", String(128), primary_key=True),
    Column("description", String(1024), nullable=False, default=""),
    Column("default_version", String(16), nullable=False),
    Column("next_version", Integer, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

policy_versions = Table(
    "policy_versions",
    metadata,
    Column("account_id", String(16), primary_key=True),
    Column("policy_name", String(128), primary_key=True),
    Column("version_id", String(16), primary_key=True),
    Column("document", Text(), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    ForeignKeyConstraint(["account_id", "policy_name"], ["policies.account_id", "policies.name"]),
)

groups = Table(
    "groups",
    metadata,
    Column("group_id", String(20), primary_key=True),
    Column("account_id", String(16), ForeignKey("accounts.account_id"), nullable=False),
    Column("name", String(64), nullable=False),
    Column("comments", String(128), nullable=False, default=""),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    UniqueConstraint("account_id", "name"),
)

group_members = Table(
    "group_members",
    metadata,
    Column("group_id", String(20), ForeignKey("groups.group_id"), primary_key=True),
    Column("user_id", String(16), ForeignKey("users.user_id"), primary_key=True),
    Column("joined_at", UTCDateTime(), nullable=False),
    Index(None, "user_id"),
)

# Which policy is attached to which user or group. A custom policy is named within the
# account; a system policy by its name alone.
# RAM roles. Names are unique within an account regardless of case (``name_lower``), as role
# ARNs carry the name lower-cased.
roles = Table(
    "roles",
    metadata,
    Column("role_id", String(20), primary_key=True),
    Column("account_id", String(16), ForeignKey("accounts.account_id"), nullable=False),
    Column("name", String(64), nullable=False),
    Column("name_lower", String(64), nullable=False),
    Column("description", String(1024), nullable=False, default=""),
    Column("trust_policy", Text(), nullable=False),
    # JSON: the users and roles the trust policy names, bound to their IDs when it was saved.
    Column("trust_bindings", Text(), nullable=False, default="{}"),
    Column("max_session_duration", Integer, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    UniqueConstraint("account_id", "name_lower"),
)

attachments = Table(
    "attachments",
    metadata,
    Column("principal_type", String(8), primary_key=True),  # "User" | "Group" | "Role"
    Column("principal_id", String(20), primary_key=True),
    Column("policy_type", String(8), primary_key=True),  # "System" | "Custom"
    Column("policy_name", String(128), primary_key=True),
    Column("account_id", String(16), ForeignKey("accounts.account_id"), nullable=False),
    Column("attached_at", UTCDateTime(), nullable=False),
    Index(None, "account_id", "policy_type", "policy_name"),
)

# The audit trail: one row per event, chained by hash per account (keyhouse.domain.audit).
# ``account_id`` is "" for requests whose AccessKey ID no account knows. ``body`` is the whole
# event; the other columns repeat parts of it for lookups, and verification checks they agree.
audit_events = Table(
    "audit_events",
    metadata,
    Column("account_id", String(16), primary_key=True),
    Column("seq", BigInteger(), primary_key=True, autoincrement=False),
    Column("event_id", String(40), nullable=False),
    Column("event_time", UTCDateTime(), nullable=False),
    Column("event_name", String(64), nullable=False),
    Column("event_rw", String(8), nullable=False),
    Column("service_name", String(32), nullable=False),
    Column("access_key_id", String(32), nullable=True),
    Column("user_name", String(64), nullable=True),
    Column("source_ip", String(64), nullable=False),
    Column("error_code", String(128), nullable=True),
    Column("resources", Text(), nullable=False),
    Column("body", Text(), nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    UniqueConstraint("event_id"),
    Index(None, "account_id", "event_time"),
    Index(None, "access_key_id", "event_time"),
)

audit_heads = Table(
    "audit_heads",
    metadata,
    Column("account_id", String(16), primary_key=True),
    Column("seq", BigInteger(), nullable=False),
    Column("hash", String(64), nullable=False),
    # Events up to pruned_seq were removed by retention; pruned_hash is the last one's hash.
    Column("pruned_seq", BigInteger(), nullable=False),
    Column("pruned_hash", String(64), nullable=False),
)

# The latest credential report of each account (IMS GenerateCredentialReport).
credential_reports = Table(
    "credential_reports",
    metadata,
    Column("account_id", String(16), ForeignKey("accounts.account_id"), primary_key=True),
    Column("generated_at", UTCDateTime(), nullable=False),
    Column("content", Text(), nullable=False),
)

# -- the web console ---------------------------------------------------------------------------
# A RAM user's console password (IMS login profile). Hashes only (argon2id).
login_profiles = Table(
    "login_profiles",
    metadata,
    Column("user_id", String(16), ForeignKey("users.user_id"), primary_key=True),
    Column("password_hash", String(256), nullable=False),
    Column("status", String(8), nullable=False),
    Column("password_reset_required", Boolean(), nullable=False),
    Column("mfa_bind_required", Boolean(), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

# The account owner's console password (set with `keyhouse account set-password`).
account_passwords = Table(
    "account_passwords",
    metadata,
    Column("account_id", String(16), ForeignKey("accounts.account_id"), primary_key=True),
    Column("password_hash", String(256), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

# Signed-in browsers. The cookie holds a random token; only its SHA-256 is stored.
console_sessions = Table(
    "console_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("account_id", String(16), ForeignKey("accounts.account_id"), nullable=False),
    Column("user_id", String(16), nullable=True),
    Column("csrf", String(64), nullable=False),
    Column("must_change_password", Boolean(), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    # "" signed in; "code": an MFA code is still due; "bind": a device must be bound first.
    Column("mfa_stage", String(8), nullable=False, server_default=""),
    Index(None, "expires_at"),
)

# Virtual MFA devices (IMS CreateVirtualMFADevice): the TOTP seed sealed with the master key,
# bound to what the serial number names ("mfa:" + serial), and who holds the device.
mfa_devices = Table(
    "mfa_devices",
    metadata,
    Column("serial_number", String(128), primary_key=True),
    Column("account_id", String(16), ForeignKey("accounts.account_id"), nullable=False),
    Column("name", String(64), nullable=False),
    Column("holder", String(16), nullable=True),  # a user ID, "owner", or NULL: unbound
    Column("secret_key_id", String(32), nullable=False),
    Column("secret_sealed", LargeBinary, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("activated_at", UTCDateTime(), nullable=True),
    Column("last_step", BigInteger(), nullable=False, server_default="0"),
    UniqueConstraint("account_id", "holder"),
)

# What the console shows once after a redirect (post/redirect/get): a notice, and for a new
# AccessKey pair its secret, sealed with the master key like every stored secret.
console_flashes = Table(
    "console_flashes",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("message", Text(), nullable=False),
    Column("access_key_id", String(32), nullable=True),
    Column("secret_key_id", String(32), nullable=True),
    Column("secret_sealed", LargeBinary, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
)

# Temporary credentials minted and not yet expired, by the master key that sealed their token
# (nothing else of them is stored): what ``keyhouse master-key retire`` counts before a key
# may go. Expired rows are purged by the retention sweep.
sts_sessions = Table(
    "sts_sessions",
    metadata,
    Column("access_key_id", String(32), primary_key=True),
    Column("key_id", String(32), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Index(None, "key_id", "expires_at"),
    Index(None, "expires_at"),
)

# Keys of the store itself, sealed under the master keyring like every stored secret (bound to
# ``store-key:<name>``): ``audit-chain`` keys the audit trail's hash chain (keyhouse.domain.audit).
store_keys = Table(
    "store_keys",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("secret_key_id", String(32), nullable=False),
    Column("secret_sealed", LargeBinary, nullable=False),
)

# Failed sign-ins per source address and per user, in a sliding window (the throttle).
signin_failures = Table(
    "signin_failures",
    metadata,
    Column("subject", String(200), primary_key=True),
    Column("failures", Integer(), nullable=False),
    Column("window_start", UTCDateTime(), nullable=False),
)

# Services an account protects with Keyhouse (keyhouse.domain.gateway): their routes and signed
# actions as the JSON document the API takes. A change bumps the account's cache epoch
# (migration 0011), like a change to its users or keys: a gateway's verification reads them
# from the cache.
protected_services = Table(
    "protected_services",
    metadata,
    Column("account_id", String(16), ForeignKey("accounts.account_id"), primary_key=True),
    Column("name", String(16), primary_key=True),
    Column("description", String(1024), nullable=False, default=""),
    Column("document", Text(), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)
