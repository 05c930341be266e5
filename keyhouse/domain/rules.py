"""The lifecycle rules, as pure functions over domain values."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TypeVar

from keyhouse.domain.errors import Conflict, InvalidValue, LimitExceeded
from keyhouse.domain.model import AccessKey, KeyStatus, User

USER_KEY_LIMIT = 2
ROOT_KEY_LIMIT = 5
KEY_BIN_LIMIT = 3
USER_LIMIT = 1000
USER_BIN_LIMIT = 1000
BIN_RETENTION = timedelta(days=30)

_Binned = TypeVar("_Binned", AccessKey, User)

_NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}\Z", re.ASCII)
_DOMAIN_PREFIX = re.compile(r"^[a-z0-9]([a-z0-9-]{0,48}[a-z0-9])?\Z", re.ASCII)
DOMAIN_SUFFIX = ".onaliyun.com"


def key_limit(user_id: str | None) -> int:
    """RAM users hold 2 pairs; the account root holds 5."""
    return ROOT_KEY_LIMIT if user_id is None else USER_KEY_LIMIT


def check_room_for_key(user_id: str | None, live_keys: int) -> None:
    limit = key_limit(user_id)
    if live_keys >= limit:
        raise LimitExceeded(
            "user.access_key",
            f"The AccessKey pairs of this {'account' if user_id is None else 'user'} "
            f"reached the limit of {limit}; delete one first.",
        )


def check_deletable(key: AccessKey) -> None:
    if key.status is KeyStatus.ACTIVE:
        raise Conflict(
            "access_key.active",
            "The AccessKey pair is Active; disable it before deleting it.",
        )


def bin_dates(now: datetime) -> tuple[datetime, datetime]:
    """(RecycleDate, DeleteDate) for something moved to a recycle bin now."""
    return now, now + BIN_RETENTION


def bin_overflow(binned_oldest_first: Sequence[_Binned], limit: int) -> list[_Binned]:
    """The earliest-binned entries beyond ``limit``, which are purged to make room."""
    excess = len(binned_oldest_first) - limit
    return list(binned_oldest_first[:excess]) if excess > 0 else []


def check_restorable_key(key_owner: User | None) -> None:
    if key_owner is not None and key_owner.in_bin:
        raise Conflict(
            "user.in_recycle_bin",
            "The user of this AccessKey pair is in the user recycle bin; restore the user first.",
        )


def validate_user_name(name: str, parameter: str) -> str:
    if not _NAME.match(name):
        raise InvalidValue(
            parameter,
            "The user name must be 1 to 64 letters, digits, periods, hyphens or underscores.",
        )
    return name


def validate_display_name(name: str, parameter: str, max_length: int) -> str:
    if not 1 <= len(name) <= max_length:
        raise InvalidValue(parameter, f"The display name must be 1 to {max_length} characters.")
    return name


def validate_comments(text: str, parameter: str) -> str:
    if len(text) > 128:
        raise InvalidValue(parameter, "Comments must be at most 128 characters.")
    return text


def validate_default_domain(domain: str, parameter: str = "DefaultDomainName") -> str:
    prefix = domain.removesuffix(DOMAIN_SUFFIX)
    if not domain.endswith(DOMAIN_SUFFIX) or not _DOMAIN_PREFIX.match(prefix):
        raise InvalidValue(
            parameter,
            f"The default domain must look like <alias>{DOMAIN_SUFFIX}, where the alias has "
            "1 to 50 lower-case letters, digits or hyphens.",
        )
    return domain


def default_domain_for(account_name: str) -> str:
    return f"{account_name.lower()}{DOMAIN_SUFFIX}"


def validate_account_name(name: str) -> str:
    if not _DOMAIN_PREFIX.match(name):
        raise InvalidValue(
            "AccountName",
            "The account name must be 1 to 50 lower-case letters, digits or hyphens, "
            "starting and ending with a letter or digit.",
        )
    return name


def split_principal_name(upn: str, domain: str, parameter: str) -> str:
    """The user name of ``name@domain``; refuse a principal name outside the default domain."""
    name, at, upn_domain = upn.rpartition("@")
    if not at or upn_domain.lower() != domain.lower():
        raise InvalidValue(
            parameter,
            f"The principal name must be <name>@{domain}, the account's default domain.",
        )
    return validate_user_name(name, parameter)


# -- policies and groups (reference section 9; RAM's documented limits) ------------------------
CUSTOM_POLICY_LIMIT = 1500
POLICY_VERSION_LIMIT = 5
SYSTEM_POLICIES_PER_PRINCIPAL = 20
CUSTOM_POLICIES_PER_PRINCIPAL = 10
GROUPS_PER_USER = 5
_POLICY_NAME = re.compile(r"^[A-Za-z0-9-]{1,128}\Z", re.ASCII)
_VERSION_ID = re.compile(r"^v[1-9][0-9]{0,8}\Z", re.ASCII)


def validate_policy_name(name: str, parameter: str = "PolicyName") -> str:
    if not _POLICY_NAME.match(name):
        raise InvalidValue(
            f"{parameter}.Format", "The policy name must be 1 to 128 letters, digits or hyphens."
        )
    return name


def validate_policy_type(value: str, parameter: str = "PolicyType") -> str:
    if value not in {"System", "Custom"}:
        raise InvalidValue(parameter, "The policy type must be System or Custom.")
    return value


def validate_description(text: str, parameter: str = "Description") -> str:
    if len(text) > 1024:
        raise InvalidValue(
            f"{parameter}.Length", "The description must be at most 1024 characters."
        )
    return text


def validate_version_id(value: str, parameter: str = "VersionId") -> str:
    if not _VERSION_ID.match(value):
        raise InvalidValue(parameter, "The version ID must look like v1, v2, ...")
    return value


def validate_group_name(name: str, parameter: str = "GroupName") -> str:
    if not _NAME.match(name):
        raise InvalidValue(
            f"{parameter}.Format",
            "The group name must be 1 to 64 letters, digits, periods, hyphens or underscores.",
        )
    return name


# -- roles ------------------------------------------------------------------------------------
ROLE_LIMIT = 1000
MAX_SESSION_DURATION = (3600, 43200)
_ROLE_NAME = re.compile(r"^[A-Za-z0-9.-]{1,64}\Z", re.ASCII)


def validate_role_name(name: str, parameter: str = "RoleName") -> str:
    if not name or len(name) > 64:
        raise InvalidValue(f"{parameter}.Length", "The role name must be 1 to 64 characters.")
    if not _ROLE_NAME.match(name):
        raise InvalidValue(
            f"{parameter}.InvalidChars",
            "The role name may hold only letters, digits, periods and hyphens.",
        )
    return name


def validate_max_session_duration(seconds: int, parameter: str = "MaxSessionDuration") -> int:
    low, high = MAX_SESSION_DURATION
    if not low <= seconds <= high:
        raise InvalidValue(parameter, f"The maximum session duration is {low} to {high} seconds.")
    return seconds
