"""Service definitions and route matching (keyhouse.domain.gateway)."""

from __future__ import annotations

import pytest

from keyhouse.domain.errors import InvalidValue
from keyhouse.domain.gateway import (
    MAX_SEGMENTS,
    ROUTE_LIMIT,
    NoRoute,
    ServiceDefinition,
    parse_definition,
    validate_service_name,
)

ACCOUNT = "1234567890123456"


def orders(*routes: dict[str, str], actions: list[str] | None = None) -> ServiceDefinition:
    return parse_definition(ACCOUNT, "orders", "", list(routes), actions)


GET_ORDER = {
    "Method": "GET",
    "Path": "/orders/{id}",
    "Action": "orders:GetOrder",
    "Resource": "acs:orders:*:${account}:order/{id}",
}


def test_a_route_gives_the_action_and_the_resource_with_the_paths_values() -> None:
    service = orders(GET_ORDER, {"Method": "*", "Path": "/orders", "Action": "ListOrders"})
    match = service.match("GET", "/orders/42", None)
    assert (match.action, match.resource) == ("orders:GetOrder", f"acs:orders:*:{ACCOUNT}:order/42")
    assert match.name == "GetOrder"
    # An action named without its service gets it; "*" takes any method.
    assert service.match("DELETE", "/orders", None).action == "orders:ListOrders"
    # Percent-escapes are decoded before they go into the resource.
    assert service.match("GET", "/orders/a%20b", None).resource.endswith("order/a b")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/orders/42"),  # no route for the method
        ("GET", "/orders"),  # too few segments
        ("GET", "/orders/42/items"),  # too many
        ("GET", "/orders/"),  # an empty variable
        ("GET", "/orders/a%2Fb"),  # a value that would add a level to the resource
        ("GET", "/orders/%ff"),  # not UTF-8
        ("GET", "orders/42"),  # not a path
        ("GET", "/" + "a/" * 5000),  # long: refused without walking it
    ],
)
def test_requests_no_route_takes(method: str, path: str) -> None:
    with pytest.raises(NoRoute):
        orders(GET_ORDER).match(method, path, None)


def test_the_action_from_the_signed_header_must_be_one_of_the_services() -> None:
    service = orders({"Method": "POST", "Path": "/rpc"}, actions=["Ping", "orders:Pong"])
    assert service.actions == ("orders:Ping", "orders:Pong")
    assert service.match("POST", "/rpc", "Ping").action == "orders:Ping"
    for signed in (None, "", "Drop", "ims:Ping"):
        with pytest.raises(NoRoute):
            service.match("POST", "/rpc", signed)


@pytest.mark.parametrize(
    "route",
    [
        {"Method": "BREW", "Path": "/x"},
        {"Method": "GET", "Path": "x"},
        {"Method": "GET", "Path": "/x/{id}/{id}"},
        {"Method": "GET", "Path": "/x{id}"},
        {"Method": "GET", "Path": "/" + "/".join(["s"] * (MAX_SEGMENTS + 1))},
        {"Method": "GET", "Path": "/x", "Action": "ims:CreateUser"},
        {"Method": "GET", "Path": "/x", "Action": "Bad Name"},
        {"Method": "GET", "Path": "/x", "Action": "A", "Resource": "acs:ram:*:*:user/x"},
        {"Method": "GET", "Path": "/x", "Action": "A", "Resource": "acs:orders:*:*:{id}"},
        {"Method": "GET", "Path": "/x", "Action": "A", "Resource": "acs:orders:*:*:{"},
        {"Method": "GET", "Path": "/x", "Action": "A", "Extra": "1"},
        {"Method": "GET", "Path": "/x"},  # no Action and no Actions to take one from
    ],
)
def test_a_route_that_breaks_a_rule_is_refused_whole(route: dict[str, str]) -> None:
    with pytest.raises(InvalidValue):
        orders(route)


def test_bounds() -> None:
    with pytest.raises(InvalidValue):
        orders(*[GET_ORDER] * (ROUTE_LIMIT + 1))
    with pytest.raises(InvalidValue):
        parse_definition(ACCOUNT, "orders", "", [], None)
    for name in ("ims", "keyhouse", "o", "Orders", "a" * 17, "9lives"):
        with pytest.raises(InvalidValue):
            validate_service_name(name)
    assert validate_service_name("orders-v2") == "orders-v2"


def test_the_stored_document_reads_back_the_same() -> None:
    from keyhouse.domain.gateway import definition_from

    service = orders(GET_ORDER, {"Method": "POST", "Path": "/rpc"}, actions=["Ping"])
    again = definition_from(ACCOUNT, "orders", "", service.document())
    assert again == service


def test_the_worst_case_a_definition_allows_is_refused_by_walking_it_once() -> None:
    """100 routes of 16 variables, an empty last segment: every route is walked once, segment
    by segment (no pattern, nothing to backtrack)."""
    routes = [
        {"Method": "GET", "Path": "/" + "/".join(f"{{v{i}}}" for i in range(16)), "Action": "A"}
        for _ in range(ROUTE_LIMIT)
    ]
    service = orders(*routes)
    path = "/" + "/".join(["x" * 100] * 15) + "/"
    with pytest.raises(NoRoute):
        service.match("GET", path, None)
    assert service.match("GET", path + "y", None).action == "orders:A"
