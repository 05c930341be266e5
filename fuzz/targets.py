"""What each fuzz target feeds its parser, and which refusals are the parser's answer.

Anything else a parser raises, or an input that takes longer than libFuzzer's ``-timeout``,
is a finding: a 500 or a stalled worker on the wire. Inputs come from atheris's
FuzzedDataProvider, so one byte string drives every choice of a structured request.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import UTC, datetime

import atheris

with atheris.instrument_imports(include=["keyhouse"]):
    from keyhouse.api import wire
    from keyhouse.api.params import WireError, parse_all
    from keyhouse.app import route_table
    from keyhouse.clock import parse_date
    from keyhouse.domain import netpolicy, policy, trust
    from keyhouse.domain.errors import DomainError
    from keyhouse.signing import acs3

ROUTES = sorted(route_table().items())
_HEADERS = (
    "authorization",
    "content-type",
    "x-acs-action",
    "x-acs-version",
    "x-acs-date",
    "x-acs-signature-nonce",
    "x-acs-security-token",
    "x-acs-content-sha256",
    "x-forwarded-for",
    "host",
)
_CONTEXT = policy.RequestContext(
    "ram:ListUsers",
    "acs:ram:*:1234567890123456:user/alice",
    netpolicy.parse_address("192.0.2.7"),
    datetime(2026, 12, 1, tzinfo=UTC),
    True,
)


def authorization(data: bytes) -> None:
    """The ACS3 ``Authorization`` header."""
    with contextlib.suppress(acs3.MalformedAuthorization):
        acs3.parse_authorization(data.decode("latin-1"))


def request(data: bytes) -> None:
    """A whole request: query and form parameters, headers, body; then the signature's
    pieces (both schemes) and one routed action's parameters."""
    fdp = atheris.FuzzedDataProvider(data)
    method = fdp.PickValueInList(["GET", "POST"])
    headers = [
        (
            fdp.PickValueInList(list(_HEADERS)).encode(),
            fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 200)),
        )
        for _ in range(fdp.ConsumeIntInRange(0, 6))
    ]
    if fdp.ConsumeBool():
        headers.append((b"content-type", b"application/x-www-form-urlencoded"))
    query = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 1024))
    body = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 1024))
    route = ROUTES[fdp.ConsumeIntInRange(0, len(ROUTES) - 1)][1]
    req = wire.WireRequest.build(method, "/", query, headers, body, "192.0.2.7")
    req.action_version()
    try:
        signed = wire.signed_request(req)
        signed.expected("0123456789abcdefghijklmnopqrst")
    except DomainError:
        pass
    with contextlib.suppress(WireError, DomainError):
        parse_all(route.params, req.params())


def timestamps(data: bytes) -> None:
    """The timestamps a client sends: the signature's and the policies' (refused with the
    vendor's codes), and the trail's and markers' (a ValueError, which their callers turn
    into InvalidParameter)."""
    text = data.decode("utf-8", "replace")
    for read in (wire._timestamp, policy._parse_date):
        with contextlib.suppress(DomainError):
            read(text)
    with contextlib.suppress(ValueError):
        parse_date(text)


def policy_document(data: bytes) -> None:
    """Permission policies, evaluated once when they parse."""
    try:
        parsed = policy.parse(data.decode("utf-8", "replace"))
    except DomainError:
        return
    policy.evaluate([("fuzzed", parsed)], _CONTEXT)


def network_policy(data: bytes) -> None:
    """AccessKey network access policies, checked against one address when they parse."""
    text = data.decode("utf-8", "replace")
    try:
        parsed = netpolicy.parse(text)
    except DomainError:
        return
    parsed.allows("192.0.2.7")
    parsed.allows("2001:db8::1", "vpc-fuzz")


def trust_policy(data: bytes) -> None:
    """Role trust policies."""
    with contextlib.suppress(DomainError):
        trust.parse(data.decode("utf-8", "replace"))


TARGETS: dict[str, Callable[[bytes], None]] = {
    "authorization": authorization,
    "request": request,
    "timestamps": timestamps,
    "policy": policy_document,
    "network-policy": network_policy,
    "trust-policy": trust_policy,
}
