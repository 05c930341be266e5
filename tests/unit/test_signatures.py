"""Signature verification against documented examples, SDK-signed vectors, and their mutations."""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keyhouse.api.wire import WireRequest, signed_request
from keyhouse.services.authn import AuthenticationFailed
from keyhouse.signing import acs3, rpc
from keyhouse.signing.percent import percent_encode
from tests.unit.vectors import AK, SECRET, VECTORS


def _request(v: dict[str, Any]) -> WireRequest:
    path, _, query = v["target"].partition("?")
    return WireRequest.build(
        v["method"],
        path,
        query.encode(),
        [(k.encode(), val.encode()) for k, val in v["headers"]],
        v["body"],
    )


def _verifies(req: WireRequest) -> bool:
    try:
        signed = signed_request(req)
    except AuthenticationFailed:
        return False
    expected, _ = signed.expected(SECRET)
    return signed.access_key_id == AK and expected == signed.signature


def test_documented_v3_example() -> None:
    params = [("UserPrincipalName", "test user@example.onaliyun.com"), ("Tag.1.Key", "a*b~c")]
    headers = {
        "host": ["ims.aliyuncs.com"],
        "x-acs-version": ["2019-08-15"],
        "x-acs-action": ["ListAccessKeys"],
        "x-acs-date": ["2024-01-01T00:00:00Z"],
        "x-acs-signature-nonce": ["0123456789abcdef0123456789abcdef"],
        "accept": ["application/json"],
        "x-acs-content-sha256": [acs3.EMPTY_SHA256],
    }
    signed = sorted(headers)
    assert (
        acs3.canonical_query(params)
        == "Tag.1.Key=a%2Ab~c&UserPrincipalName=test%20user%40example.onaliyun.com"
    )
    to_sign = acs3.string_to_sign(
        acs3.canonical_request("POST", "/", params, headers, signed, acs3.EMPTY_SHA256)
    )
    assert (
        to_sign
        == "ACS3-HMAC-SHA256\n72c8d47b2f719b22c465aeff7d4fbd4c6ceb4297bc118ca0d0f6d5fe7a4ed099"
    )
    assert (
        acs3.sign("testsecret", to_sign)
        == "74f67416899a0abdec373ea30b3d7a3e014a800dfaed5210bf3088722f73d396"
    )


def test_documented_rpc_example() -> None:
    params = [
        ("AccessKeyId", "testid"),
        ("Action", "CreateUser"),
        ("DisplayName", "test"),
        ("Format", "JSON"),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureNonce", "3f6b4e80-56f7-11eb-a256-a9f756ea7e85"),
        ("SignatureVersion", "1.0"),
        ("Timestamp", "2021-01-15T06:02:28Z"),
        ("UserPrincipalName", "test@example.onaliyun.com"),
        ("Version", "2019-08-15"),
    ]
    to_sign = rpc.string_to_sign("GET", params)
    assert to_sign.startswith("GET&%2F&AccessKeyId%3Dtestid%26Action%3DCreateUser")
    assert "Timestamp%3D2021-01-15T06%253A02%253A28Z" in to_sign
    assert rpc.sign("testsecret", to_sign) == "02heLegtw4+BFamznl1Ltj+vJ4A="


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_sdk_signed_vector_verifies(vector: dict[str, Any]) -> None:
    assert _verifies(_request(vector))


def _flip_char(text: str, index: int) -> str:
    return text[:index] + ("Q" if text[index] != "Q" else "R") + text[index + 1 :]


def _mutants(v: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    out = [("method", {**v, "method": "GET"})]
    path, _, query = v["target"].partition("?")
    out.append(("path", {**v, "target": "/other?" + query}))
    # every parameter value, one at a time (the signature itself excepted)
    for i, pair in enumerate(query.split("&")):
        name, _, value = pair.partition("=")
        if name == "Signature" or not value:
            continue
        pairs = query.split("&")
        pairs[i] = f"{name}={_flip_char(value, 0)}"
        out.append((f"query {name}", {**v, "target": path + "?" + "&".join(pairs)}))
    signed_names: list[str] = []
    auth = next((val for k, val in v["headers"] if k.lower() == "authorization"), None)
    if auth:
        signed_names = auth.split("SignedHeaders=")[1].split(",")[0].split(";")
    for name in signed_names:
        changed = [
            (k, _flip_char(val, len(val) - 1) if k.lower() == name else val)
            for k, val in v["headers"]
        ]
        out.append((f"header {name}", {**v, "headers": changed}))
        dropped = [(k, val) for k, val in v["headers"] if k.lower() != name]
        out.append((f"drop {name}", {**v, "headers": dropped}))
    body = v["body"]
    out.append(("body", {**v, "body": body[:-1] + b"Q" if body else b"Q=1"}))
    return out


_CASES = [(v["name"], label, m) for v in VECTORS for label, m in _mutants(v)]


@pytest.mark.parametrize(
    ("vector", "mutation", "mutant"), _CASES, ids=[f"{a}: {b}" for a, b, _ in _CASES]
)
def test_any_mutation_of_a_signed_vector_is_refused(
    vector: str, mutation: str, mutant: dict[str, Any]
) -> None:
    assert not _verifies(_request(mutant)), f"{vector} still verified after changing its {mutation}"


def test_v3_body_must_match_its_hash() -> None:
    v = VECTORS[0]
    req = _request({**v, "body": b"tampered"})
    assert hashlib.sha256(req.body).hexdigest() != acs3.EMPTY_SHA256
    assert not _verifies(req)


@given(st.text())
def test_percent_encoding_matches_rfc3986(value: str) -> None:
    # The shortcut for already-safe strings must never change what is signed.
    assert percent_encode(value) == quote(value, safe="~")


def _credential_library_request(params: dict[str, str]) -> WireRequest:
    """A GET signed the way alibabacloud-credentials signs AssumeRole: quote_plus, so a space
    is signed as "+", and sent with urlencode (space as "+" in the URL too)."""
    from urllib.parse import urlencode

    from alibabacloud_credentials.utils import parameter_helper

    query = {
        "Action": "AssumeRole",
        "Format": "JSON",
        "Version": "2015-04-01",
        "AccessKeyId": AK,
        "SignatureMethod": "HMAC-SHA1",
        "SignatureVersion": "1.0",
        "Timestamp": "2026-12-01T12:00:00Z",
        "SignatureNonce": "c3d1e0a4-5b8f-4e0e-9a55-0b7a1c2d3e4f",
        **params,
    }
    to_sign = parameter_helper.compose_string_to_sign("GET", query)
    query["Signature"] = parameter_helper.sign_string(to_sign, SECRET + "&")
    return WireRequest.build("GET", "/", urlencode(query).encode(), [], b"")


def test_the_credential_librarys_signature_verifies_with_spaces() -> None:
    policy = '{"Version": "1", "Statement": [{"Effect": "Allow", "Action": "ims:Get*"}]}'
    assert _verifies(_credential_library_request({"Policy": policy, "RoleSessionName": "s"}))
    # No space: both encodings are the same string.
    assert _verifies(_credential_library_request({"RoleSessionName": "s"}))


def test_the_plus_for_space_reading_does_not_accept_other_changes() -> None:
    req = _credential_library_request({"Policy": "a b", "RoleSessionName": "s"})
    query = req.query
    for i, (name, value) in enumerate(query):
        if name in ("Policy", "RoleSessionName"):
            changed = list(query)
            changed[i] = (name, value.replace(" ", "+") if " " in value else value + "x")
            mutant = WireRequest.build(
                "GET",
                "/",
                "&".join(f"{k}={quote(v, safe='')}" for k, v in changed).encode(),
                [],
                b"",
            )
            assert not _verifies(mutant), name
