"""Pure rules behind the hardening fixes: wildcard matching without backtracking, bounded JSON,
bounded audit events, forwarded addresses, failing closed, and strict configuration."""

from __future__ import annotations

import functools
import ipaddress
import json
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keyhouse.config import ConfigError, Settings, load_settings
from keyhouse.domain import audit, jsondoc, policy, rules
from keyhouse.domain.errors import InvalidValue
from keyhouse.domain.wildcard import compile_wildcard
from keyhouse.origin import UNKNOWN_ADDRESS, forwarded_address


def reference_match(pattern: str, text: str) -> bool:
    """Dynamic programming over (pattern, text) prefixes: obviously right, quadratic."""

    @functools.cache
    def m(i: int, j: int) -> bool:
        if i == len(pattern):
            return j == len(text)
        if pattern[i] == "*":
            return m(i + 1, j) or (j < len(text) and m(i, j + 1))
        return j < len(text) and pattern[i] in {"?", text[j]} and m(i + 1, j + 1)

    return m(0, 0)


@given(st.text(alphabet="ab*?", max_size=8), st.text(alphabet="ab", max_size=10))
def test_wildcards_match_exactly_what_the_definition_says(pattern: str, text: str) -> None:
    assert compile_wildcard(pattern).matches(text) is reference_match(pattern, text)


def test_many_stars_cost_linear_time_not_exponential() -> None:
    done: list[bool] = []
    resource = "acs:ram:*:1234567890123456:user/" + "a" * 4000

    def run() -> None:
        done.append(compile_wildcard("*" * 60 + "X").matches(resource))
        done.append(compile_wildcard("*a" * 30 + "?X").matches(resource))

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(timeout=10)  # a backtracking regex takes hours here
    assert done == [False, False]


def test_actions_match_case_insensitively_resources_do_not() -> None:
    assert compile_wildcard("RAM:list*", ignore_case=True).matches("ram:ListUsers")
    assert not compile_wildcard("user/Bob").matches("user/bob")


def test_deep_or_huge_json_is_a_document_error() -> None:
    with pytest.raises(jsondoc.DocumentError, match="nested deeper"):
        jsondoc.load("[" * 10_000 + "]" * 10_000)
    with pytest.raises(jsondoc.DocumentError, match="number longer"):
        jsondoc.load('{"n": ' + "9" * 5000 + "}")
    with pytest.raises(jsondoc.DocumentError):
        jsondoc.load('{"n": NaN}')
    assert jsondoc.load('{"s": "[[[[[[[[[[[[[[[[[[[[[[["}') == {"s": "[" * 23}


def test_one_event_keeps_a_bounded_part_of_the_request() -> None:
    params = {f"P{i:03}": "v" * 8192 for i in range(100)}
    kept, cut = audit.request_parameters(params)
    assert cut and sum(len(k) + len(v) for k, v in kept.items()) <= audit.MAX_PARAMETER_BYTES
    kept, cut = audit.request_parameters({"UserName": "alice", "Signature": "s"})
    assert kept == {"UserName": "alice"} and not cut


def test_storable_text_has_no_nul_and_fits_its_column() -> None:
    assert audit.storable("a\x00b") == "a\ufffdb"
    assert audit.storable("x" * 100, 64) == "x" * 64
    assert audit.storable("\ud800") == "?"


@pytest.mark.parametrize(
    ("hop", "address"),
    [
        ("192.0.2.7", "192.0.2.7"),
        ("192.0.2.7:8080", "192.0.2.7"),
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("2001:db8::1", "2001:db8::1"),
        ("unknown", UNKNOWN_ADDRESS),
        ("_hidden", UNKNOWN_ADDRESS),
        ("192.0.2.7:http", UNKNOWN_ADDRESS),
        ("[2001:db8::1", UNKNOWN_ADDRESS),
    ],
)
def test_forwarded_addresses_in_the_documented_forms(hop: str, address: str) -> None:
    assert forwarded_address(hop) == address


def test_an_unknown_source_fails_closed() -> None:
    document = json.dumps(
        {
            "Version": "1",
            "Statement": [
                {"Effect": "Allow", "Action": "*", "Resource": "*"},
                {
                    "Effect": "Deny",
                    "Action": "*",
                    "Resource": "*",
                    "Condition": {"NotIpAddress": {"acs:SourceIp": "192.0.2.0/24"}},
                },
            ],
        }
    )
    parsed = policy.parse(document)

    def effect(ip: str | None) -> policy.Effect | None:
        source = ipaddress.ip_address(ip) if ip else None
        ctx = policy.RequestContext("ram:ListUsers", "*", source, datetime.now(UTC), True)
        return policy.evaluate([("Custom:p", parsed)], ctx).effect

    assert effect("192.0.2.1") is policy.Effect.ALLOW
    assert effect("198.51.100.1") is policy.Effect.DENY
    assert effect(None) is policy.Effect.DENY  # the Deny applies; it no longer drops out


@pytest.mark.parametrize("name", ["alice\n", "alice\r\n", "al ice", ""])
def test_names_are_anchored_at_the_true_end(name: str) -> None:
    with pytest.raises(InvalidValue):
        rules.validate_user_name(name, "UserName")


def test_unreadable_booleans_and_in_memory_stores_are_refused(tmp_path: Path) -> None:
    for value in ("flase", "2", "enabled"):
        with pytest.raises(ConfigError, match=r"KEYHOUSE_AUDIT: .* is not a boolean"):
            load_settings(environ={"KEYHOUSE_AUDIT": value})
    assert load_settings(environ={"KEYHOUSE_AUDIT": "off"}).audit is False
    assert load_settings(environ={"KEYHOUSE_AUDIT": "TRUE"}).audit is True
    for url in ("sqlite://relative.db", "sqlite:///:memory:", "sqlite://", "mysql://x/y"):
        with pytest.raises(ConfigError, match=r"^--database-url: "):
            load_settings({"database_url": url}, environ={})
        with pytest.raises(ConfigError, match=r"^KEYHOUSE_DATABASE_URL: "):
            load_settings(environ={"KEYHOUSE_DATABASE_URL": url})
    assert load_settings({"database_url": f"sqlite:///{tmp_path}/k.db"}, environ={})


def test_every_setting_has_a_variable_named_after_it() -> None:
    from dataclasses import fields

    from keyhouse.config import env_name

    for f in fields(Settings):
        assert env_name(f.name) == "KEYHOUSE_" + f.name.upper()
