"""Policy attachments over each target of the table, in process."""

from __future__ import annotations

import json

import pytest

from keyhouse.domain.errors import AlreadyExists, LimitExceeded, NotFound, PermissionDenied
from keyhouse.domain.model import Principal
from keyhouse.services.attachments import GROUP, ROLE, TARGETS, USER, Target
from keyhouse.services.base import UserRef
from tests.unit.services.conftest import House


def _targets(house: House) -> dict[str, str]:
    svc, root = house.svc, house.root
    svc.users.create(root, UserRef.name("ann"), None)
    svc.groups.create(root, "team")
    trust = {
        "Version": "1",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "sts:AssumeRole",
                "Principal": {"RAM": [f"acs:ram::{house.account.account_id}:root"]},
            }
        ],
    }
    svc.roles.create(root, "ops", json.dumps(trust))
    return {"User": "ann", "Group": "team", "Role": "ops"}


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.kind)
def test_attach_list_and_detach_on_each_target(house: House, target: Target) -> None:
    svc, root = house.svc, house.root
    ref = target.ref(_targets(house)[target.kind])
    svc.attachments.attach(root, target, ref, "System", "AliyunRAMReadOnlyAccess")
    with pytest.raises(AlreadyExists):
        svc.attachments.attach(root, target, ref, "System", "AliyunRAMReadOnlyAccess")
    found = svc.attachments.of(root, target, ref)
    assert [(a.view.type, a.view.name) for a in found] == [("System", "AliyunRAMReadOnlyAccess")]
    svc.attachments.detach(root, target, ref, "System", "AliyunRAMReadOnlyAccess")
    assert svc.attachments.of(root, target, ref) == []
    with pytest.raises(NotFound):
        svc.attachments.detach(root, target, ref, "System", "AliyunRAMReadOnlyAccess")
    with pytest.raises(NotFound):
        svc.attachments.attach(root, target, ref, "Custom", "no-such-policy")


def test_a_reader_may_list_but_not_attach(house: House) -> None:
    svc, root = house.svc, house.root
    _targets(house)
    svc.attachments.attach(root, USER, UserRef.name("ann"), "System", "AliyunRAMReadOnlyAccess")
    user, _ = svc.users.get(root, UserRef.name("ann"))
    ann = Principal("user", house.account.account_id, user_id=user.user_id, user_name="ann")
    assert svc.attachments.of(ann, GROUP, "team") == []
    with pytest.raises(PermissionDenied):
        svc.attachments.attach(ann, ROLE, "ops", "System", "AdministratorAccess")


def test_at_most_ten_custom_policies_attach_to_one_target(house: House) -> None:
    svc, root = house.svc, house.root
    _targets(house)
    for name in ("AdministratorAccess", "AliyunRAMFullAccess", "AliyunRAMReadOnlyAccess"):
        svc.attachments.attach(root, GROUP, "team", "System", name)
    assert len(svc.attachments.of(root, GROUP, "team")) == 3
    with pytest.raises(LimitExceeded):
        for n in range(11):
            svc.policies.create(
                root,
                f"p{n}",
                json.dumps(
                    {
                        "Version": "1",
                        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
                    }
                ),
            )
            svc.attachments.attach(root, GROUP, "team", "Custom", f"p{n}")
