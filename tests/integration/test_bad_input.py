"""Hostile values for every parameter of every routed action: a clear 4xx, never a 500."""

from __future__ import annotations

from typing import Any

import pytest

from keyhouse.app import route_table
from tests.integration import raw
from tests.integration.server import Server

HOSTILE = [
    "\x00",
    "a\x00b",
    "x" * 5000,
    "\u202e\U0001f600",
    "' OR 1=1 --",
    "-1",
    "99999999999",
    " ",
]
ROUTES = sorted(route_table().values(), key=lambda r: (r.version, r.action))


@pytest.mark.parametrize("route", ROUTES, ids=[f"{r.version}:{r.action}" for r in ROUTES])
def test_hostile_parameter_values_get_a_vendor_error_never_a_500(
    server: Server, account: dict[str, Any], route: Any
) -> None:
    names = [p.name if p.kind != "tags" else "Tag.1.Key" for p in route.params] or ["Anything"]
    for name in names:
        for value in HOSTILE:
            query = raw.rpc_query(
                account["AccessKeyId"],
                account["AccessKeySecret"],
                route.action,
                route.version,
                {name: value},
            )
            status, body = raw.post_rpc(server.endpoint, query)
            assert status < 500, (name, value[:20], body)
            assert set(body) >= {"RequestId"}, body
            if status >= 400:
                assert body["Code"] and body["Message"], body


@pytest.mark.parametrize("key_id", ["\x00", "LTAI\x00", "x" * 300, "é"])
def test_hostile_access_key_ids_are_not_found(server: Server, key_id: str) -> None:
    query = raw.rpc_query(key_id, "s" * 30, "GetCallerIdentity", "2015-04-01")
    status, body = raw.post_rpc(server.endpoint, query)
    assert (status, body["Code"]) == (404, "InvalidAccessKeyId.NotFound")


def test_get_requests_work_like_post(server: Server, account: dict[str, Any]) -> None:
    from urllib.parse import urlencode

    query = raw.rpc_query(
        account["AccessKeyId"],
        account["AccessKeySecret"],
        "GetCallerIdentity",
        "2015-04-01",
        method="GET",
    )
    status, body = raw.send(
        server.endpoint, "GET", "/?" + urlencode(query), {"host": server.endpoint}
    )
    assert (status, body["AccountId"]) == (200, account["AccountId"])
