"""Temporary credentials' tokens: sealed, bound to their AccessKey ID, and over at expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from keyhouse.crypto import MasterKey, SecretBox
from keyhouse.domain.model import RoleSession
from keyhouse.services.tokens import TokenRefused, mint, open_token

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def session(**changes: object) -> RoleSession:
    fields: dict[str, object] = {
        "role_id": "1234567890123456789",
        "role_name": "Reader",
        "name": "ci",
        "expires_at": NOW + timedelta(seconds=900),
        "policy": None,
        "source_account_id": "111",
        "source_name": "dev",
        "source_kind": "user",
        "source_access_key_id": "LTAIexample",
    }
    fields.update(changes)
    return RoleSession(**fields)  # type: ignore[arg-type]


def test_a_token_opens_for_its_key_until_it_expires() -> None:
    box = SecretBox([MasterKey.generate()])
    minted = mint(box, "222", session())
    account, opened, secret = open_token(box, minted.access_key_id, minted.token, NOW)
    assert (account, opened, secret) == ("222", minted.session, minted.secret)
    assert minted.secret not in minted.token  # sealed, not merely encoded
    with pytest.raises(TokenRefused) as refused:
        open_token(box, minted.access_key_id, minted.token, NOW + timedelta(seconds=900))
    assert refused.value.code == "auth.token_expired"


def test_a_token_from_another_keyring_or_for_another_key_does_not_open() -> None:
    key = MasterKey.generate()
    box, other = SecretBox([key]), SecretBox([MasterKey(key.key_id, MasterKey.generate().material)])
    minted = mint(box, "222", session())
    with pytest.raises(TokenRefused) as refused:
        open_token(other, minted.access_key_id, minted.token, NOW)
    assert refused.value.code == "auth.token_malformed"
    second = mint(box, "222", session())
    with pytest.raises(TokenRefused) as refused:
        open_token(box, second.access_key_id, minted.token, NOW)
    assert refused.value.code == "auth.token_mismatch"
    with pytest.raises(TokenRefused):
        open_token(box, minted.access_key_id, "v1." + "A" * 9000, NOW)  # bounded before work


def test_a_token_sealed_under_a_retired_key_is_expired_whether_it_was_opened_before_or_not() -> (
    None
):
    old, new = MasterKey.generate(), MasterKey.generate()
    ring = [[old]]
    box = SecretBox([old], lambda: ring[0])
    used = mint(box, "222", session())
    unused = mint(box, "222", session())
    assert open_token(box, used.access_key_id, used.token, NOW)  # opened: kept in the cache
    ring[0] = [new]  # the key file without the old key, as `master-key retire --force` leaves it
    assert box.refresh()
    for minted in (used, unused):
        with pytest.raises(TokenRefused) as refused:
            open_token(box, minted.access_key_id, minted.token, NOW)
        assert refused.value.code == "auth.token_expired"
        assert "retired" in refused.value.message
