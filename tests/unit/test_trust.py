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


NONE: trust.Bindings = {}


def test_an_accounts_root_trusts_every_identity_of_that_account_only() -> None:
    policy = trust.parse(doc(allow("acs:ram::111:root")))
    assert policy.trusts(Caller("111", user_id="u-alice"), None, NONE)
    assert policy.trusts(Caller("111", role_id="r-ci"), None, NONE)
    assert not policy.trusts(Caller("222", user_id="u-alice"), None, NONE)


def test_a_named_user_or_role_is_the_identity_it_was_bound_to() -> None:
    policy = trust.parse(doc(allow("acs:ram::111:user/Alice", "acs:ram::222:role/Deployer")))
    assert policy.identities() == {("user", "111", "Alice"), ("role", "222", "deployer")}
    bound = {("user", "111", "Alice"): "u-alice", ("role", "222", "deployer"): "r-deployer"}
    assert policy.trusts(Caller("111", user_id="u-alice"), None, bound)
    assert not policy.trusts(Caller("111", user_id="u-bob"), None, bound)
    assert policy.trusts(Caller("222", role_id="r-deployer"), None, bound)
    assert not policy.trusts(Caller("222", user_id="r-deployer"), None, bound)  # not a role
    # Whoever holds the name later is another identity: a user re-created as alice is not
    # trusted, and a name bound to nothing trusts nobody.
    assert not policy.trusts(Caller("111", user_id="u-new-alice"), None, bound)
    assert not policy.trusts(Caller("111", user_id="u-alice"), None, NONE)


def test_bindings_round_trip_through_their_stored_form() -> None:
    bound = {("user", "111", "a.b@c"): "u1", ("role", "222", "x-y"): "r2"}
    stored = {trust.binding_key(k): v for k, v in bound.items()}
    assert stored == {"user:111:a.b@c": "u1", "role:222:x-y": "r2"}
    assert trust.bindings_from(stored) == bound


def test_an_external_id_condition_must_be_met() -> None:
    policy = trust.parse(doc(allow("acs:ram::111:root", **{"sts:ExternalId": ["a1", "b2"]})))
    assert policy.trusts(Caller("111", user_id="x"), "b2", NONE)
    assert not policy.trusts(Caller("111", user_id="x"), "c3", NONE)
    assert not policy.trusts(Caller("111", user_id="x"), None, NONE)


def test_a_deny_wins() -> None:
    policy = trust.parse(
        doc(allow("acs:ram::111:root"), allow("acs:ram::111:user/eve", effect="Deny"))
    )
    bound = {("user", "111", "eve"): "u-eve"}
    assert policy.trusts(Caller("111", user_id="u-alice"), None, bound)
    assert not policy.trusts(Caller("111", user_id="u-eve"), None, bound)


def test_service_and_federated_principals_are_held_but_trust_no_caller() -> None:
    statement = {
        "Effect": "Allow",
        "Action": "sts:AssumeRole",
        "Principal": {"Service": "ecs.aliyuncs.com"},
    }
    policy = trust.parse(doc(statement))
    assert not policy.trusts(Caller("111", user_id="u-alice"), None, NONE)


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
