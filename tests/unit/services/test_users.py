"""Users and their recycle bin, in process."""

from __future__ import annotations

import pytest

from keyhouse.domain.errors import Conflict, DomainError
from keyhouse.domain.model import KeyStatus
from keyhouse.services.base import UserRef
from tests.unit.services.conftest import House


def test_a_user_with_an_active_pair_is_not_binned(house: House) -> None:
    svc, root = house.svc, house.root
    svc.users.create(root, UserRef.name("dan"), None)
    svc.keys.create(root, UserRef.name("dan"))
    with pytest.raises(Conflict):
        svc.users.delete(root, UserRef.name("dan"))


def test_a_binned_users_pair_is_restored_only_after_the_user(house: House) -> None:
    svc, root = house.svc, house.root
    svc.users.create(root, UserRef.name("eve"), None)
    eve = UserRef.name("eve")
    key_id = svc.keys.create(root, eve).key.access_key_id
    svc.keys.set_status(root, eve, key_id, KeyStatus.INACTIVE)
    user, _ = svc.users.get(root, eve)
    svc.users.delete(root, eve)
    with pytest.raises(DomainError):
        svc.keys.restore(root, user.user_id, key_id)
    svc.users.restore(root, user.user_id)
    svc.keys.restore(root, user.user_id, key_id)
    assert [k.access_key_id for k in svc.keys.list_live(root, eve)] == [key_id]
