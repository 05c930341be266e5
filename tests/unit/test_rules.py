"""The pure lifecycle rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from keyhouse.domain import rules
from keyhouse.domain.errors import Conflict, InvalidValue, LimitExceeded
from keyhouse.domain.model import AccessKey, KeyStatus, User

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _key(status: KeyStatus = KeyStatus.ACTIVE, n: int = 0) -> AccessKey:
    return AccessKey(f"LTAI{n:020d}", "1" * 16, "2" * 16, status, NOW, NOW)


def test_a_ram_user_holds_two_keys_and_the_root_five() -> None:
    rules.check_room_for_key("2" * 16, 1)
    with pytest.raises(LimitExceeded):
        rules.check_room_for_key("2" * 16, 2)
    rules.check_room_for_key(None, 4)
    with pytest.raises(LimitExceeded):
        rules.check_room_for_key(None, 5)


def test_only_an_inactive_key_may_be_deleted() -> None:
    with pytest.raises(Conflict):
        rules.check_deletable(_key(KeyStatus.ACTIVE))
    rules.check_deletable(_key(KeyStatus.INACTIVE))


def test_binned_things_are_purged_30_days_later() -> None:
    recycled, delete_at = rules.bin_dates(NOW)
    assert (recycled, delete_at - recycled) == (NOW, timedelta(days=30))


def test_bin_overflow_names_the_earliest_binned() -> None:
    keys = [_key(n=i) for i in range(5)]
    assert rules.bin_overflow(keys, 3) == keys[:2]
    assert rules.bin_overflow(keys[:3], 3) == []


def test_restored_key_is_active_with_its_create_date() -> None:
    binned = _key(KeyStatus.INACTIVE).to_bin(NOW + timedelta(days=1), NOW + timedelta(days=31))
    restored = binned.from_bin(NOW + timedelta(days=2))
    assert (restored.status, restored.created_at, restored.in_bin) == (KeyStatus.ACTIVE, NOW, False)


def test_a_key_of_a_binned_user_cannot_be_restored() -> None:
    user = User("2" * 16, "1" * 16, "alice", "Alice", NOW, NOW)
    rules.check_restorable_key(user)
    rules.check_restorable_key(None)
    with pytest.raises(Conflict):
        rules.check_restorable_key(user.to_bin(NOW, NOW + timedelta(days=30)))


@pytest.mark.parametrize(
    "upn", ["alice@other.onaliyun.com", "alice", "@acme.onaliyun.com", "a b@acme.onaliyun.com"]
)
def test_principal_names_must_be_in_the_default_domain(upn: str) -> None:
    with pytest.raises(InvalidValue):
        rules.split_principal_name(upn, "acme.onaliyun.com", "UserPrincipalName")


def test_principal_name_splits_into_the_user_name() -> None:
    assert (
        rules.split_principal_name("a.b-c_d@ACME.onaliyun.com", "acme.onaliyun.com", "U")
        == "a.b-c_d"
    )


@pytest.mark.parametrize(
    "domain", ["acme.example.com", "-acme.onaliyun.com", "ACME.onaliyun.com", ".onaliyun.com"]
)
def test_default_domain_must_be_an_alias_under_onaliyun(domain: str) -> None:
    with pytest.raises(InvalidValue):
        rules.validate_default_domain(domain)


def test_display_name_length_is_checked() -> None:
    rules.validate_display_name("x" * 24, "DisplayName", 24)
    with pytest.raises(InvalidValue):
        rules.validate_display_name("x" * 25, "DisplayName", 24)
    with pytest.raises(InvalidValue):
        rules.validate_display_name("", "DisplayName", 24)
