"""AccessKey network access policies: the documented document, and what it lets through."""

from __future__ import annotations

import json
from typing import Any

import pytest

from keyhouse.domain import netpolicy
from keyhouse.domain.netpolicy import NetworkPolicyError, applicable, parse


def doc(status: str = "Active", *statements: dict[str, Any]) -> str:
    return json.dumps({"Version": 1, "Status": status, "Statements": list(statements)})


def classic(*ips: str) -> dict[str, Any]:
    return {"Type": "ClassicWhiteList", "IPList": list(ips)}


def vpc(value: str, *ips: str) -> dict[str, Any]:
    return {"Type": "VPCWhiteList", "Value": value, "IPList": list(ips)}


def test_classic_whitelist_of_addresses_and_blocks() -> None:
    p = parse(doc("Active", classic("127.0.0.1", "10.0.0.0/8", "2001:db8::/32")))
    assert p.allows("127.0.0.1")
    assert p.allows("10.2.3.4")
    assert p.allows("2001:db8::7")
    assert not p.allows("127.0.0.2")
    assert not p.allows("::1")
    assert p.allows("::ffff:127.0.0.1")  # an IPv4 client on a dual-stack socket


def test_inactive_is_kept_but_not_enforced_and_active_empty_refuses_all() -> None:
    assert parse(doc("Inactive", classic("10.0.0.1"))).allows("192.0.2.1")
    assert not parse(doc("Active")).allows("127.0.0.1")
    assert parse(netpolicy.NONE).allows("192.0.2.1")


def test_vpc_entries_match_only_marked_requests() -> None:
    p = parse(doc("Active", vpc("vpc-123", "10.0.0.0/8"), vpc("AllowAllVPC", "172.16.0.0/12")))
    assert not p.allows("10.1.1.1")  # no VPC mark: a VPC entry never matches
    assert p.allows("10.1.1.1", "vpc-123")
    assert not p.allows("10.1.1.1", "vpc-999")
    assert p.allows("172.16.5.5", "vpc-999")
    assert not parse(doc("Active", classic("10.0.0.0/8"))).allows("10.1.1.1", "vpc-123")


def test_key_level_active_replaces_account_level() -> None:
    account = doc("Active", classic("127.0.0.1"))
    own = doc("Active", classic("127.0.0.2"))
    chosen = applicable(own, account)
    assert chosen is not None and chosen.allows("127.0.0.2") and not chosen.allows("127.0.0.1")
    fallback = applicable(doc("Inactive", classic("127.0.0.2")), account)
    assert fallback is not None and fallback.allows("127.0.0.1")
    assert applicable(None, None) is None
    assert applicable(netpolicy.NONE, doc("Inactive")) is None


@pytest.mark.parametrize(
    "text",
    [
        "",
        "nope",
        "[]",
        json.dumps({"Status": "On", "Statements": []}),
        json.dumps({"Status": "Active"}),
        json.dumps({"Status": "Active", "Statements": None}),
        json.dumps({"Version": 2, "Status": "Active", "Statements": []}),
        doc("Active", {"Type": "Whatever", "IPList": ["1.1.1.1"]}),
        doc("Active", classic("1.1.1.300")),
        doc("Active", classic()),
        doc("Active", {"Type": "VPCWhiteList", "IPList": ["1.1.1.1"]}),
        doc("Active", {**classic("1.1.1.1"), "Value": "vpc-1"}),
        doc("Active", {**classic("1.1.1.1"), "Extra": 1}),
    ],
)
def test_malformed_documents_are_refused(text: str) -> None:
    with pytest.raises(NetworkPolicyError) as info:
        parse(text)
    assert info.value.parameter == "AccessKeyPolicy"


def test_the_documented_example_without_version_parses() -> None:
    example = (
        '{"Status":"Inactive","Statements":[{"Value":"AllowAllVPC","Type":"VPCWhiteList",'
        '"IPList":["::/0","0.0.0.0/0"]}]}'
    )
    assert not parse(example).active
