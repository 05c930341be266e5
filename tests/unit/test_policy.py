"""The RAM policy language: validation and evaluation, from the documented examples."""

from __future__ import annotations

import ipaddress
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keyhouse.domain import policy
from keyhouse.domain.policy import Effect, PolicyError, RequestContext, evaluate, parse

ACCOUNT = "1234567890123456"
NOON = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def ctx(
    action: str = "ram:ListUsers",
    resource: str = f"acs:ram:*:{ACCOUNT}:*",
    ip: str = "192.168.0.7",
    at: datetime = NOON,
    secure: bool = True,
) -> RequestContext:
    return RequestContext(action, resource, ipaddress.ip_address(ip), at, secure)


def doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "1", "Statement": list(statements)})


def verdict(document: str, context: RequestContext) -> Effect | None:
    return evaluate([("Custom:p", parse(document))], context).effect


def allow(**extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": "ram:*", "Resource": "*", **extra}


# -- documented examples (RAM policy elements and policy structure and syntax pages) ----------


def test_read_only_example_allows_get_and_list_only() -> None:
    read_only = policy.SYSTEM_POLICIES["AliyunRAMReadOnlyAccess"][1]
    assert verdict(read_only, ctx("ram:GetUser")) is Effect.ALLOW
    assert verdict(read_only, ctx("ram:ListAccessKeys")) is Effect.ALLOW
    assert verdict(read_only, ctx("ram:CreateAccessKey")) is None
    assert verdict(read_only, ctx("ram:DeleteUser")) is None


def test_action_names_match_case_insensitively_resources_do_not() -> None:
    d = doc({"Effect": "Allow", "Action": "ram:listusers", "Resource": "acs:ram:*:*:user/Bob"})
    assert verdict(d, ctx("ram:ListUsers", "acs:ram:*:1:user/Bob")) is Effect.ALLOW
    assert verdict(d, ctx("ram:ListUsers", "acs:ram:*:1:user/bob")) is None


def test_question_mark_is_exactly_one_character() -> None:
    d = doc({"Effect": "Allow", "Action": "ram:Get?ser", "Resource": "*"})
    assert verdict(d, ctx("ram:GetUser")) is Effect.ALLOW
    assert verdict(d, ctx("ram:GetUUser")) is None


def test_resource_scoped_to_one_user() -> None:
    mine = f"acs:ram:*:{ACCOUNT}:user/alice"
    d = doc({"Effect": "Allow", "Action": "ram:*AccessKey*", "Resource": mine})
    assert verdict(d, ctx("ram:CreateAccessKey", mine)) is Effect.ALLOW
    assert verdict(d, ctx("ram:CreateAccessKey", f"acs:ram:*:{ACCOUNT}:user/bob")) is None
    assert verdict(d, ctx("ram:ListAccessKeysInRecycleBin", f"acs:ram:*:{ACCOUNT}:*")) is None


def test_source_ip_condition_from_the_documented_example() -> None:
    d = doc(allow(Condition={"IpAddress": {"acs:SourceIp": ["192.168.0.0/16", "172.12.1.1"]}}))
    assert verdict(d, ctx(ip="192.168.200.1")) is Effect.ALLOW
    assert verdict(d, ctx(ip="172.12.1.1")) is Effect.ALLOW
    assert verdict(d, ctx(ip="10.0.0.1")) is None
    deny_outside = doc(
        allow(),
        {
            "Effect": "Deny",
            "Action": "*",
            "Resource": "*",
            "Condition": {"NotIpAddress": {"acs:SourceIp": "192.168.0.0/16"}},
        },
    )
    assert verdict(deny_outside, ctx(ip="10.0.0.1")) is Effect.DENY
    assert verdict(deny_outside, ctx(ip="192.168.1.1")) is Effect.ALLOW


def test_time_window_and_secure_transport() -> None:
    d = doc(
        allow(
            Condition={
                "DateGreaterThan": {"acs:CurrentTime": "2026-11-29T08:00:00Z"},
                "DateLessThan": {"acs:CurrentTime": "2026-11-29T20:00:00+08:00"},
                "Bool": {"acs:SecureTransport": "true"},
            }
        )
    )
    assert verdict(d, ctx(at=NOON)) is None  # 20:00+08:00 is 12:00Z: not before it
    assert verdict(d, ctx(at=NOON.replace(hour=11))) is Effect.ALLOW
    assert verdict(d, ctx(at=NOON.replace(hour=7))) is None
    assert verdict(d, ctx(at=NOON.replace(hour=11), secure=False)) is None


def test_string_conditions() -> None:
    like = doc(allow(Condition={"StringLike": {"acs:SourceIp": "192.168.*"}}))
    assert verdict(like, ctx(ip="192.168.3.4")) is Effect.ALLOW
    assert verdict(like, ctx(ip="10.1.1.1")) is None
    not_equals = doc(allow(Condition={"StringNotEquals": {"acs:SourceIp": "10.1.1.1"}}))
    assert verdict(not_equals, ctx(ip="10.1.1.1")) is None
    assert verdict(not_equals, ctx(ip="10.1.1.2")) is Effect.ALLOW


def test_no_applicable_statement_is_an_implicit_deny() -> None:
    assert evaluate([], ctx()).effect is None


# -- refusals: nothing Keyhouse does not understand is stored --------------------------------


@pytest.mark.parametrize(
    ("document", "why"),
    [
        (doc(allow(Condition={"NumericEquals": {"acs:SourceIp": "1"}})), "operator"),
        (doc(allow(Condition={"StringEquals": {"acs:MFAPresent": "true"}})), "key"),
        (doc(allow(Condition={"IpAddress": {"acs:CurrentTime": "1.1.1.1"}})), "cannot be applied"),
        (doc(allow(Condition={"IpAddress": {"acs:SourceIp": "300.1.1.1"}})), "IP"),
        (doc(allow(Condition={"DateLessThan": {"acs:CurrentTime": "tomorrow"}})), "ISO 8601"),
        (doc(allow(Condition={"Bool": {"acs:SecureTransport": "yes"}})), "true or false"),
        (doc(allow(NotAction="ram:*")), "NotAction"),
        (doc({"Effect": "Maybe", "Action": "*", "Resource": "*"}), "Effect"),
        (doc({"Effect": "Allow", "Resource": "*"}), "Action"),
        (doc({"Effect": "Allow", "Action": "*"}), "Resource"),
        (doc({"Effect": "Allow", "Action": "List*", "Resource": "*"}), "service:Action"),
        (json.dumps({"Version": "2", "Statement": []}), "Version"),
        ("{not json", "not JSON"),
        ("[]", "object"),
    ],
)
def test_refused_documents(document: str, why: str) -> None:
    with pytest.raises(PolicyError) as info:
        parse(document)
    assert why in info.value.message
    assert info.value.parameter.startswith("PolicyDocument")


def test_documents_longer_than_the_limit_are_refused() -> None:
    long = doc(allow(Sid="x" * policy.MAX_DOCUMENT_LENGTH))
    with pytest.raises(PolicyError) as info:
        parse(long)
    assert info.value.parameter == "PolicyDocument.Length"


# -- an explicit Deny always wins -------------------------------------------------------------

_actions = st.sampled_from(["ram:*", "ram:List*", "ram:GetUser", "*", "ram:Create?ccessKey"])
_resources = st.sampled_from(["*", f"acs:ram:*:{ACCOUNT}:*", f"acs:ram:*:{ACCOUNT}:user/*"])
_statement = st.fixed_dictionaries(
    {
        "Effect": st.sampled_from(["Allow", "Deny"]),
        "Action": st.one_of(_actions, st.lists(_actions, min_size=1, max_size=3)),
        "Resource": st.one_of(_resources, st.lists(_resources, min_size=1, max_size=2)),
    }
)
_request = st.tuples(
    st.sampled_from(["ram:GetUser", "ram:ListUsers", "ram:CreateAccessKey", "sts:AssumeRole"]),
    st.sampled_from([f"acs:ram:*:{ACCOUNT}:*", f"acs:ram:*:{ACCOUNT}:user/alice"]),
)


@given(st.lists(st.lists(_statement, min_size=1, max_size=4), min_size=1, max_size=4), _request)
def test_an_explicit_deny_always_wins(policies: list[list[dict[str, Any]]], request: Any) -> None:
    compiled = [(f"Custom:p{i}", parse(doc(*s))) for i, s in enumerate(policies)]
    context = ctx(*request)
    denying = any(
        s["Effect"] == "Deny" and compiled[i][1].statements[j].applies(context)
        for i, statements in enumerate(policies)
        for j, s in enumerate(statements)
    )
    result = evaluate(compiled, context).effect
    if denying:
        assert result is Effect.DENY
    # adding a matching Deny anywhere turns any verdict into Deny
    blocker = parse(doc({"Effect": "Deny", "Action": request[0], "Resource": request[1]}))
    for position in range(len(compiled) + 1):
        with_deny = [*compiled[:position], ("Custom:deny", blocker), *compiled[position:]]
        assert evaluate(with_deny, context).effect is Effect.DENY
