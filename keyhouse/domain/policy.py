"""The RAM permission-policy language (``"Version": "1"``): parse, validate, evaluate.

A document is validated completely when it is stored, so that evaluation never meets anything
it does not understand: an unknown element, condition operator or condition key is refused
(``InvalidParameter.PolicyDocument``) rather than silently ignored, because an ignored
condition would widen what the policy allows.

Evaluation follows RAM: an explicit Deny in any applicable statement wins; otherwise an Allow
in any statement allows; otherwise the request is implicitly denied.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from keyhouse.domain import jsondoc
from keyhouse.domain.errors import InvalidValue
from keyhouse.domain.wildcard import Wildcard, compile_wildcard

MAX_DOCUMENT_LENGTH = 6144

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class PolicyError(InvalidValue):
    """The document is not a policy Keyhouse can enforce exactly; the message says why."""

    def __init__(self, message: str, parameter: str = "PolicyDocument") -> None:
        super().__init__(parameter, message)


class Effect(StrEnum):
    ALLOW = "Allow"
    DENY = "Deny"


@dataclass(frozen=True, slots=True)
class RequestContext:
    """What a statement can be matched against: the action, the resource, condition keys."""

    action: str  # "ram:ListUsers"
    resource: str  # "acs:ram:*:<account id>:user/<name>"
    source_ip: IpAddress | None
    current_time: datetime
    secure_transport: bool


# -- condition keys and operators ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Key:
    name: str
    kind: str  # "ip" | "date" | "bool"
    read: Callable[[RequestContext], Any]


_KEYS = {
    k.name.lower(): k
    for k in (
        _Key("acs:SourceIp", "ip", lambda c: c.source_ip),
        _Key("acs:CurrentTime", "date", lambda c: c.current_time),
        _Key("acs:SecureTransport", "bool", lambda c: c.secure_transport),
    )
}


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value)


def _parse_ip(text: str) -> IpNetwork:
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError as exc:
        raise PolicyError(f"{text!r} is not an IP address or CIDR block.") from exc


def _parse_date(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise PolicyError(f"{text!r} is not an ISO 8601 date and time.") from exc
    if value.tzinfo is None:
        raise PolicyError(f"{text!r} has no time zone (end it with Z or an offset).")
    return value.astimezone(UTC)


def _parse_bool(text: str) -> bool:
    lowered = text.lower()
    if lowered not in {"true", "false"}:
        raise PolicyError(f"{text!r} is not true or false.")
    return lowered == "true"


# operator -> (kind of key it applies to, or "string" for any key; parse; test; negated)
@dataclass(frozen=True, slots=True)
class _Operator:
    kind: str
    parse: Callable[[str], Any]
    test: Callable[[Any, Any], bool]  # (request value, policy value) -> match
    negated: bool = False


def _like(pattern: str) -> Wildcard:
    return compile_wildcard(pattern)


def _ip_in(value: Any, network: IpNetwork) -> bool:
    return value is not None and value.version == network.version and value in network


_OPERATORS: dict[str, _Operator] = {
    "StringEquals": _Operator("string", str, lambda v, p: _as_text(v) == p),
    "StringNotEquals": _Operator("string", str, lambda v, p: _as_text(v) == p, negated=True),
    "StringEqualsIgnoreCase": _Operator("string", str.lower, lambda v, p: _as_text(v).lower() == p),
    "StringNotEqualsIgnoreCase": _Operator(
        "string", str.lower, lambda v, p: _as_text(v).lower() == p, negated=True
    ),
    "StringLike": _Operator("string", _like, lambda v, p: p.matches(_as_text(v))),
    "StringNotLike": _Operator("string", _like, lambda v, p: p.matches(_as_text(v)), negated=True),
    "IpAddress": _Operator("ip", _parse_ip, _ip_in),
    "NotIpAddress": _Operator("ip", _parse_ip, _ip_in, negated=True),
    "DateEquals": _Operator("date", _parse_date, lambda v, p: v == p),
    "DateNotEquals": _Operator("date", _parse_date, lambda v, p: v == p, negated=True),
    "DateLessThan": _Operator("date", _parse_date, lambda v, p: v < p),
    "DateLessThanEquals": _Operator("date", _parse_date, lambda v, p: v <= p),
    "DateGreaterThan": _Operator("date", _parse_date, lambda v, p: v > p),
    "DateGreaterThanEquals": _Operator("date", _parse_date, lambda v, p: v >= p),
    "Bool": _Operator("bool", _parse_bool, lambda v, p: v is p),
}

KNOWN_OPERATORS = frozenset(_OPERATORS)
KNOWN_KEYS = frozenset(k.name for k in _KEYS.values())


@dataclass(frozen=True, slots=True)
class _Condition:
    operator: _Operator
    key: _Key
    values: tuple[Any, ...]

    def holds(self, ctx: RequestContext, *, in_deny: bool) -> bool:
        value = self.key.read(ctx)
        if value is None:
            # A key the request does not carry (a source address no one could tell): fail
            # closed. It grants nothing in an Allow, and a Deny that depends on it applies.
            return in_deny
        matched = any(self.operator.test(value, p) for p in self.values)
        return not matched if self.operator.negated else matched


# -- statements and documents -------------------------------------------------------------

_ACTION = re.compile(r"^(\*|[A-Za-z0-9*?-]+:[A-Za-z0-9*?]+)\Z", re.ASCII)
_STATEMENT_ELEMENTS = frozenset({"Effect", "Action", "Resource", "Condition", "Sid"})


@dataclass(frozen=True, slots=True)
class Statement:
    effect: Effect
    actions: tuple[Wildcard, ...]
    resources: tuple[Wildcard, ...]
    conditions: tuple[_Condition, ...]

    def applies(self, ctx: RequestContext) -> bool:
        return (
            any(p.matches(ctx.action) for p in self.actions)
            and any(p.matches(ctx.resource) for p in self.resources)
            and all(c.holds(ctx, in_deny=self.effect is Effect.DENY) for c in self.conditions)
        )


@dataclass(frozen=True, slots=True)
class Policy:
    statements: tuple[Statement, ...]

    @property
    def grants_everything(self) -> bool:
        """Does a statement allow every action on every resource, unconditionally (``*`` on
        ``*``, as AdministratorAccess)? What the console asks to confirm before attaching."""
        return any(
            s.effect is Effect.ALLOW
            and not s.conditions
            and any(p.pattern == "*" for p in s.actions)
            and any(p.pattern == "*" for p in s.resources)
            for s in self.statements
        )

    def verdict(self, ctx: RequestContext) -> Effect | None:
        """Deny if any statement denies, Allow if any allows, else None (no opinion)."""
        allowed = False
        for statement in self.statements:
            if statement.applies(ctx):
                if statement.effect is Effect.DENY:
                    return Effect.DENY
                allowed = True
        return Effect.ALLOW if allowed else None


def _strings(value: Any, element: str) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(i, str) for i in items):
        raise PolicyError(f"{element} must be a string or a non-empty list of strings.")
    return items


def _condition_values(value: Any, where: str) -> list[str]:
    items = value if isinstance(value, list) else [value]
    if not items:
        raise PolicyError(f"{where} has no values.")
    out = []
    for item in items:
        if isinstance(item, bool):
            out.append("true" if item else "false")
        elif isinstance(item, str | int | float):
            out.append(str(item))
        else:
            raise PolicyError(f"{where} values must be strings, numbers or booleans.")
    return out


def _conditions(block: Any) -> tuple[_Condition, ...]:
    if not isinstance(block, dict):
        raise PolicyError("Condition must be an object of operators.")
    found = []
    for op_name, keys in block.items():
        operator = _OPERATORS.get(op_name)
        if operator is None:
            raise PolicyError(
                f"The condition operator {op_name!r} is not supported; use one of "
                f"{', '.join(sorted(_OPERATORS))}."
            )
        if not isinstance(keys, dict) or not keys:
            raise PolicyError(f"{op_name} must be an object of condition keys.")
        for key_name, values in keys.items():
            key = _KEYS.get(str(key_name).lower())
            if key is None:
                raise PolicyError(
                    f"The condition key {key_name!r} is not supported; use one of "
                    f"{', '.join(sorted(KNOWN_KEYS))}."
                )
            if operator.kind not in {"string", key.kind}:
                raise PolicyError(f"{op_name} cannot be applied to {key.name}.")
            parsed = tuple(
                operator.parse(v) for v in _condition_values(values, f"{op_name} {key.name}")
            )
            found.append(_Condition(operator, key, parsed))
    return tuple(found)


def _statement(raw: Any) -> Statement:
    if not isinstance(raw, dict):
        raise PolicyError("Each Statement must be an object.")
    unknown = set(raw) - _STATEMENT_ELEMENTS
    if unknown:
        raise PolicyError(
            f"Statement element {sorted(unknown)[0]!r} is not supported "
            "(Effect, Action, Resource, Condition)."
        )
    try:
        effect = Effect(str(raw.get("Effect")))
    except ValueError as exc:
        raise PolicyError("Effect must be Allow or Deny.") from exc
    if "Action" not in raw:
        raise PolicyError("Every statement needs an Action.")
    if "Resource" not in raw:
        raise PolicyError("Every statement needs a Resource.")
    actions = _strings(raw["Action"], "Action")
    for action in actions:
        if not _ACTION.match(action):
            raise PolicyError(f"{action!r} is not an action (service:Action, wildcards allowed).")
    resources = _strings(raw["Resource"], "Resource")
    return Statement(
        effect,
        tuple(compile_wildcard(a, ignore_case=True) for a in actions),
        tuple(compile_wildcard(r) for r in resources),
        _conditions(raw["Condition"]) if "Condition" in raw else (),
    )


def parse(document: str) -> Policy:
    """Validate a policy document completely; raise PolicyError naming the first problem."""
    if not document or len(document) > MAX_DOCUMENT_LENGTH:
        raise PolicyError(
            f"The policy document must be 1 to {MAX_DOCUMENT_LENGTH} characters long.",
            "PolicyDocument.Length",
        )
    try:
        raw = jsondoc.load(document)
    except jsondoc.DocumentError as exc:
        raise PolicyError(f"The policy document is not JSON: {exc}.") from exc
    return from_object(raw)


def from_object(raw: Any) -> Policy:
    if not isinstance(raw, dict):
        raise PolicyError("The policy document must be a JSON object.")
    unknown = set(raw) - {"Version", "Statement"}
    if unknown:
        raise PolicyError(f"Element {sorted(unknown)[0]!r} is not supported (Version, Statement).")
    if raw.get("Version") != "1":
        raise PolicyError('Version must be "1".')
    statements = raw.get("Statement")
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list):
        raise PolicyError("Statement must be a list of statements.")
    return Policy(tuple(_statement(s) for s in statements))


@functools.lru_cache(maxsize=1024)
def compiled(document: str) -> Policy:
    """A stored (already validated) document, parsed once per process."""
    return parse(document)


@dataclass(frozen=True, slots=True)
class Verdict:
    effect: Effect | None  # None: nothing applied (implicit deny)
    policy: str | None  # the policy that decided ("Custom:ReadKeys"), if any


def evaluate(policies: Iterable[tuple[str, Policy]], ctx: RequestContext) -> Verdict:
    """Explicit Deny anywhere wins; then any Allow; else no verdict (implicit deny)."""
    allowed_by: str | None = None
    for name, policy in policies:
        verdict = policy.verdict(ctx)
        if verdict is Effect.DENY:
            return Verdict(Effect.DENY, name)
        if verdict is Effect.ALLOW and allowed_by is None:
            allowed_by = name
    return Verdict(Effect.ALLOW, allowed_by) if allowed_by else Verdict(None, None)


def document(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "1", "Statement": list(statements)}, separators=(",", ":"))


# The system policies Keyhouse knows: the subset of Alibaba Cloud's that concern RAM itself.
SYSTEM_POLICIES: dict[str, tuple[str, str]] = {
    "AdministratorAccess": (
        "Full access to every resource of the account.",
        document({"Effect": "Allow", "Action": "*", "Resource": "*"}),
    ),
    "AliyunRAMFullAccess": (
        "Full access to Resource Access Management (users, groups, policies, AccessKeys).",
        document({"Effect": "Allow", "Action": "ram:*", "Resource": "*"}),
    ),
    "AliyunRAMReadOnlyAccess": (
        "Read-only access to Resource Access Management.",
        document({"Effect": "Allow", "Action": ["ram:Get*", "ram:List*"], "Resource": "*"}),
    ),
    "AliyunSTSAssumeRoleAccess": (
        "Permission to assume RAM roles (their trust policies still decide who may).",
        document({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}),
    ),
}
