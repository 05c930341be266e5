"""The AccessKey lifecycle's use-cases, in process."""

from __future__ import annotations

import pytest

from keyhouse.domain.errors import Conflict, LimitExceeded, NotFound
from keyhouse.domain.model import KeyStatus
from keyhouse.services.base import UserRef
from tests.unit.services.conftest import House


def test_a_pair_is_disabled_before_its_delete_and_restored_with_its_secret(house: House) -> None:
    svc, root = house.svc, house.root
    svc.users.create(root, UserRef.name("ann"), None)
    ann = UserRef.name("ann")
    made = svc.keys.create(root, ann)
    key_id = made.key.access_key_id
    with pytest.raises(Conflict):
        svc.keys.delete(root, ann, key_id)
    svc.keys.set_status(root, ann, key_id, KeyStatus.INACTIVE)
    svc.keys.delete(root, ann, key_id)
    assert svc.keys.list_live(root, ann) == []
    user, _ = svc.users.get(root, ann)
    restored = svc.keys.restore(root, user.user_id, key_id)
    assert restored.status is KeyStatus.ACTIVE
    assert svc.keys.whose(key_id) is not None


def test_a_user_holds_two_pairs_and_the_owner_five(house: House) -> None:
    svc, root = house.svc, house.root
    svc.users.create(root, UserRef.name("bob"), None)
    for _ in range(2):
        svc.keys.create(root, UserRef.name("bob"))
    with pytest.raises(LimitExceeded):
        svc.keys.create(root, UserRef.name("bob"))
    for _ in range(4):  # the account was created with one root pair
        svc.keys.create(root, None)
    with pytest.raises(LimitExceeded):
        svc.keys.create(root, None)


def test_the_bin_keeps_three_pairs_the_oldest_leaves(house: House) -> None:
    svc, root = house.svc, house.root
    svc.users.create(root, UserRef.name("cy"), None)
    cy = UserRef.name("cy")
    binned = []
    for _ in range(4):
        key_id = svc.keys.create(root, cy).key.access_key_id
        svc.keys.set_status(root, cy, key_id, KeyStatus.INACTIVE)
        svc.keys.delete(root, cy, key_id)
        binned.append(key_id)
        house.clock.advance(seconds=1)
    user, _ = svc.users.get(root, cy)
    assert {k.access_key_id for k in svc.keys.list_bin(root, user.user_id)} == set(binned[1:])
    with pytest.raises(NotFound):
        svc.keys.restore(root, user.user_id, binned[0])
