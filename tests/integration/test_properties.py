"""Property: whatever parameters a signed request carries, every routed action answers in the
vendor's way, a success or a 4xx with ``Code``, ``Message`` and ``RequestId``, never a 5xx.

Hypothesis draws each action's parameter maps: its own parameter names (and a few others)
with values of every shape a client could send: empty, huge, control characters, other
scripts, numbers out of range, JSON, lists. Requests go to a real server, signed with an
account root's pair (so they pass authentication and reach the action), as form bodies.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keyhouse.app import route_table
from tests.integration import raw
from tests.integration.server import Server

ROUTES = sorted(route_table().items())

_VALUES = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x2FF), max_size=300),
    st.sampled_from(["", "0", "-1", "1", "100", "1001", "99999999999999999999", "true", "no"]),
    st.sampled_from(["Active", "Inactive", "*", "..", "/", "\x00", "a" * 2000, "%00", "{}"]),
    st.sampled_from(['{"Version":"1","Statement":[]}', "[" * 40, '{"a":' * 30, "null"]),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.from_regex(r"[a-z]{1,20}@[a-z]{1,10}\.onaliyun\.com", fullmatch=True),
)


def _parameters(names: list[str]) -> st.SearchStrategy[dict[str, str]]:
    known = (
        st.dictionaries(st.sampled_from(names), _VALUES, max_size=len(names))
        if names
        else st.just({})
    )
    other = st.dictionaries(
        st.from_regex(r"[A-Za-z][A-Za-z0-9.]{0,30}", fullmatch=True), _VALUES, max_size=3
    )
    return st.tuples(known, other).map(lambda pair: {**pair[1], **pair[0]})


@pytest.fixture(scope="module")
def target(server: Server) -> dict[str, Any]:
    """An account of this module's own: whatever the drawn requests change stays in it."""
    return server.create_account("properties")


@pytest.mark.parametrize(("version", "action"), [key for key, _ in ROUTES], ids=str)
@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_every_action_answers_random_parameters_with_a_vendor_envelope(
    server: Server, target: dict[str, Any], version: str, action: str, data: st.DataObject
) -> None:
    route = route_table()[(version, action)]
    params = data.draw(_parameters([p.name for p in route.params]))
    query = raw.rpc_query(target["AccessKeyId"], target["AccessKeySecret"], action, version, params)
    headers = {"host": server.endpoint, "content-type": "application/x-www-form-urlencoded"}
    status, body = raw.send(server.endpoint, "POST", "/", headers, urlencode(query).encode())
    assert status < 500, (status, body)
    if status != 200:
        assert 400 <= status < 500
        assert body.get("Code") and body.get("Message") and body.get("RequestId"), body
