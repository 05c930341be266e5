"""Services an account protects with Keyhouse: their routes, and which route a request takes.

A service (``orders``) maps each HTTP method and path template to the action and resource a
policy decides on, as the vendor's products do for theirs::

    GET /orders/{id}  ->  orders:GetOrder  on  acs:orders:*:${account}:order/{id}

A route without an action takes it from the request's signed ``x-acs-action`` header (the
official SDKs' generic call sends one), which must then be one of the service's ``Actions``.
Everything here is bounded: names, counts, lengths; matching a path splits it once and walks
the routes' segments (linear in the path and the routes, no backtracking).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from keyhouse.domain import arn
from keyhouse.domain.errors import InvalidValue

SERVICE_LIMIT = 100  # services per account
ROUTE_LIMIT = 100  # routes per service
ACTION_LIMIT = 100  # signed actions per service
MAX_TEMPLATE = 256  # characters of a path or resource template
MAX_SEGMENTS = 16  # path segments of a template
MAX_PATH = 2048  # characters of a request path the matcher looks at
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "*")
# Reads: a leak-protected key may still make them; the event's eventRW.
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Keyhouse's own products: their actions are Keyhouse's, not a service's.
RESERVED = frozenset({"ims", "ram", "sts", "actiontrail", "keyhouse", "acs"})

# As long as the key's last-used service column (16).
_SERVICE_NAME = re.compile(r"^[a-z][a-z0-9-]{1,15}\Z", re.ASCII)
_ACTION_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,63}\Z", re.ASCII)
_VARIABLE = re.compile(r"^\{([A-Za-z_][A-Za-z0-9_]{0,31})\}\Z", re.ASCII)
_LITERAL = re.compile(r"^[A-Za-z0-9._~!$&'()*+,;=:@-]{1,128}\Z", re.ASCII)
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]{0,31})\}|\$\{account\}", re.ASCII)
_RESOURCE_TEXT = re.compile(r"^[\x21-\x7e]{1,256}\Z", re.ASCII)
# What a path segment may hold once decoded to be put in a resource.
_UNSAFE_VALUE = re.compile(r"[\x00-\x1f\x7f/]")


def validate_service_name(name: str, parameter: str = "ServiceName") -> str:
    if not _SERVICE_NAME.match(name):
        raise InvalidValue(
            parameter,
            "A service name is 2 to 16 characters: lower-case letters, digits and hyphens, "
            "starting with a letter.",
        )
    if name in RESERVED:
        raise InvalidValue(parameter, f"The service name {name} is reserved for Keyhouse.")
    return name


@dataclass(frozen=True, slots=True)
class Route:
    method: str  # upper case, or "*" for any
    path: str  # the template as written
    segments: tuple[str, ...]  # literal text, or "{name}" for a variable
    action: str | None  # "<service>:<Name>", or None: from the signed x-acs-action
    resource: str  # template: "{name}" from the path, "${account}"

    def document(self) -> dict[str, str]:
        shown = {"Method": self.method, "Path": self.path, "Resource": self.resource}
        if self.action is not None:
            shown["Action"] = self.action
        return shown


@dataclass(frozen=True, slots=True)
class Match:
    """What a request to the service asks for: the action and resource a policy decides on."""

    route: Route
    action: str  # "orders:GetOrder"
    resource: str  # "acs:orders:*:<account>:order/42"

    @property
    def name(self) -> str:
        """The action's name without its service: the event's eventName."""
        return self.action.partition(":")[2]


class NoRoute(Exception):
    """No route of the service takes the request (the message says why, for the caller)."""


@dataclass(frozen=True, slots=True)
class ServiceDefinition:
    account_id: str
    name: str
    description: str
    routes: tuple[Route, ...]
    actions: tuple[str, ...]  # "<service>:<Name>", for routes without an action

    def document(self) -> str:
        """The stored form: routes and actions, as the API takes and shows them."""
        return json.dumps(
            {"Routes": [r.document() for r in self.routes], "Actions": list(self.actions)},
            separators=(",", ":"),
        )

    def match(self, method: str, path: str, signed_action: str | None) -> Match:
        """The first route (in the order defined) that takes ``method`` and ``path`` (the
        request's path as sent, percent-encoded, without its query)."""
        if len(path) > MAX_PATH or not path.startswith("/"):
            raise NoRoute("The request path is not one this service routes.")
        pieces = path[1:].split("/", MAX_SEGMENTS)
        if len(pieces) > MAX_SEGMENTS:
            raise NoRoute("The request path is not one this service routes.")
        for route in self.routes:
            if route.method != "*" and route.method != method:
                continue
            values = _bind(route.segments, pieces)
            if values is None:
                continue
            action = route.action or self._signed(signed_action)
            return Match(route, action, _render(route.resource, values, self.account_id))
        raise NoRoute(f"No route of service {self.name} takes {method} {path[:256]}.")

    def _signed(self, signed_action: str | None) -> str:
        if not signed_action:
            raise NoRoute(
                f"This route of service {self.name} takes its action from the signed "
                "x-acs-action header, and the request has none."
            )
        action = f"{self.name}:{signed_action}"
        if action not in self.actions:
            raise NoRoute(f"The action {signed_action[:64]} is not one of service {self.name}.")
        return action


def _render(template: str, values: dict[str, str], account_id: str) -> str:
    """A route's resource for one request: its path's values and the account put in."""
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)] if m.group(1) else account_id, template)


def _bind(segments: tuple[str, ...], pieces: list[str]) -> dict[str, str] | None:
    if len(segments) != len(pieces):
        return None
    values: dict[str, str] = {}
    for template, piece in zip(segments, pieces, strict=True):
        if template.startswith("{"):
            if not piece:
                return None
            try:
                value = unquote(piece, errors="strict") if "%" in piece else piece
            except UnicodeDecodeError:
                return None
            if _UNSAFE_VALUE.search(value):
                return None
            values[template[1:-1]] = value
        elif template != piece:
            return None
    return values


def parse_definition(
    account_id: str, name: str, description: str, routes: Any, actions: Any
) -> ServiceDefinition:
    """A service from the API's ``Routes`` and ``Actions`` (parsed JSON): every rule checked,
    nothing half-accepted."""
    validate_service_name(name)
    if not isinstance(routes, list) or not routes:
        raise InvalidValue("Routes", "Routes is a JSON array of 1 or more routes.")
    if len(routes) > ROUTE_LIMIT:
        raise InvalidValue("Routes", f"A service has at most {ROUTE_LIMIT} routes.")
    if actions is None:
        actions = []
    if not isinstance(actions, list) or len(actions) > ACTION_LIMIT:
        raise InvalidValue("Actions", f"Actions is a JSON array of at most {ACTION_LIMIT} names.")
    named = tuple(dict.fromkeys(_action(name, a, "Actions") for a in actions))
    parsed = tuple(_route(name, i, raw) for i, raw in enumerate(routes, 1))
    if any(r.action is None for r in parsed) and not named:
        raise InvalidValue(
            "Actions",
            "A route without an Action takes it from the signed x-acs-action header: list the "
            "actions it may name in Actions.",
        )
    return ServiceDefinition(account_id, name, description, parsed, named)


def definition_from(account_id: str, name: str, description: str, stored: str) -> ServiceDefinition:
    raw = json.loads(stored)
    return parse_definition(account_id, name, description, raw["Routes"], raw["Actions"])


def _action(service: str, value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise InvalidValue(where.partition(".")[0], f"{where}: an action is a string.")
    prefix, colon, rest = value.partition(":")
    short = rest if colon else prefix
    if colon and prefix != service:
        raise InvalidValue(
            where.partition(".")[0], f"{where}: an action of service {service} is {service}:<Name>."
        )
    if not _ACTION_NAME.match(short):
        raise InvalidValue(
            where.partition(".")[0],
            f"{where}: an action's name is 1 to 64 letters and digits, starting with a letter.",
        )
    return f"{service}:{short}"


def _route(service: str, number: int, raw: Any) -> Route:
    where = f"Routes.{number}"
    if not isinstance(raw, dict) or not set(raw) <= {"Method", "Path", "Action", "Resource"}:
        raise InvalidValue("Routes", f"{where} is an object of Method, Path, Action and Resource.")
    method = raw.get("Method", "*")
    if not isinstance(method, str) or method.upper() not in METHODS:
        raise InvalidValue("Routes", f"{where}.Method is one of {', '.join(METHODS)}.")
    path = raw.get("Path")
    if not isinstance(path, str) or not path.startswith("/") or len(path) > MAX_TEMPLATE:
        raise InvalidValue(
            "Routes", f"{where}.Path is a path template starting with / ({MAX_TEMPLATE} at most)."
        )
    segments = tuple(path[1:].split("/"))
    if len(segments) > MAX_SEGMENTS:
        raise InvalidValue("Routes", f"{where}.Path has at most {MAX_SEGMENTS} segments.")
    variables: set[str] = set()
    for segment in segments:
        variable = _VARIABLE.match(segment)
        if variable is not None:
            if variable.group(1) in variables:
                raise InvalidValue("Routes", f"{where}.Path names {segment} twice.")
            variables.add(variable.group(1))
        elif segment and not _LITERAL.match(segment):
            raise InvalidValue(
                "Routes",
                f"{where}.Path: each segment is literal text (letters, digits, ._~-!$&'()*+,;=:@) "
                "or a whole {variable}.",
            )
    action = raw.get("Action")
    resource = raw.get("Resource", arn.service_default_resource(service))
    if not isinstance(resource, str) or not _RESOURCE_TEXT.match(resource):
        raise InvalidValue("Routes", f"{where}.Resource is 1 to 256 printable characters.")
    prefix = arn.service_resource_prefix(service)
    if not resource.startswith(prefix):
        raise InvalidValue("Routes", f"{where}.Resource of service {service} is {prefix}...")
    unknown = {m.group(1) for m in _PLACEHOLDER.finditer(resource) if m.group(1)} - variables
    if unknown:
        raise InvalidValue(
            "Routes", f"{where}.Resource names {{{sorted(unknown)[0]}}}, which its Path has not."
        )
    if "{" in _PLACEHOLDER.sub("", resource) or "}" in _PLACEHOLDER.sub("", resource):
        raise InvalidValue("Routes", f"{where}.Resource: braces only around a path variable.")
    return Route(
        method.upper(),
        path,
        segments,
        None if action is None else _action(service, action, f"{where}.Action"),
        resource,
    )
