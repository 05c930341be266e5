"""Trust policies: who they let assume a role, and what they refuse to hold."""

from __future__ import annotations

import json
from typing import Any

import pytest

from keyhouse.domain import trust
from keyhouse.domain.errors import MalformedDocument
from keyhouse.domain.trust import Caller


def doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "1", "Statement": list(statements)})


def allow(*principals: str, effect: str = "Allow", **condition: Any) -> dict[str, Any]:
    statement: dict[str, Any] = {
        "Effect": effect,
        "Action": "sts:AssumeRole",
        "Principal": {"RAM": list(principals)},
    }
    if condition:
        statement["Condition"] = {"StringEquals": condition}
    return statement


def test_an_accounts_root_trusts_every_identity_of_that_account_only() -> None:
    policy = trust.parse(doc(allow("acs:ram::111:root")))
    assert policy.trusts(Caller("111", user_name="alice"), None)
    assert policy.trusts(Caller("111", role_name="ci"), None)
    assert not policy.trusts(Caller("222", user_name="alice"), None)


def test_a_named_user_or_role_is_trusted_alone_and_names_ignore_case() -> None:
    policy = trust.parse(doc(allow("acs:ram::111:user/Alice", "acs:ram::222:role/Deployer")))
    assert policy.trusts(Caller("111", user_name="alice"), None)
    assert not policy.trusts(Caller("111", user_name="bob"), None)
    assert policy.trusts(Caller("222", role_name="deployer"), None)
    assert not policy.trusts(Caller("222", user_name="deployer"), None)  # a user is not a role


def test_an_external_id_condition_must_be_met() -> None:
    policy = trust.parse(doc(allow("acs:ram::111:root", **{"sts:ExternalId": ["a1", "b2"]})))
    assert policy.trusts(Caller("111", user_name="x"), "b2")
    assert not policy.trusts(Caller("111", user_name="x"), "c3")
    assert not policy.trusts(Caller("111", user_name="x"), None)


def test_a_deny_wins() -> None:
    policy = trust.parse(
        doc(allow("acs:ram::111:root"), allow("acs:ram::111:user/eve", effect="Deny"))
    )
    assert policy.trusts(Caller("111", user_name="alice"), None)
    assert not policy.trusts(Caller("111", user_name="eve"), None)


def test_service_and_federated_principals_are_held_but_trust_no_caller() -> None:
    statement = {
        "Effect": "Allow",
        "Action": "sts:AssumeRole",
        "Principal": {"Service": "ecs.aliyuncs.com"},
    }
    policy = trust.parse(doc(statement))
    assert not policy.trusts(Caller("111", user_name="alice"), None)


@pytest.mark.parametrize(
    "document",
    [
        "",
        "[]",
        "{not json",
        json.dumps({"Version": "1", "Statement": []}),
        json.dumps({"Version": "1", "Statement": [allow("acs:ram::111:root")], "Id": "x"}),
        doc({**allow("acs:ram::111:root"), "Action": ["sts:AssumeRole", "ram:*"]}),
        doc({**allow("acs:ram::111:root"), "Effect": "Maybe"}),
        doc({**allow("acs:ram::111:root"), "Principal": {}}),
        doc({**allow("acs:ram::111:root"), "Principal": {"RAM": []}}),
        doc({**allow("acs:ram::111:root"), "Principal": {"RAM": "acs:ram::111:group/ops"}}),
        doc({**allow("acs:ram::111:root"), "Resource": "*"}),
        doc({**allow("acs:ram::111:root"), "Condition": {"StringLike": {"sts:ExternalId": "a*"}}}),
        doc(*[allow("acs:ram::111:root")] * 17),
        doc(allow(*[f"acs:ram::{n}:root" for n in range(101)])),
        doc(allow("acs:ram::111:user/" + "a" * 4000)),
    ],
)
def test_what_cannot_be_enforced_exactly_is_refused(document: str) -> None:
    with pytest.raises(MalformedDocument):
        trust.parse(document)
