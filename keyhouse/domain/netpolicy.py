"""Network access policies for AccessKeys (reference section 10).

``{"Version": 1, "Status": "Active"|"Inactive", "Statements": [{"Type": "ClassicWhiteList" |
"VPCWhiteList", "Value": "<vpc id>", "IPList": ["192.0.2.0/24", "2001:db8::1", ...]}]}``

An Active policy allows a request only when a statement matches it: a ClassicWhiteList entry
matches a request from the public network (no VPC mark) whose source address is in its IPList;
a VPCWhiteList entry matches a request that a trusted proxy marked with the VPC ID in ``Value``
(or any VPC for ``AllowAllVPC``), from an address in its IPList. An Inactive policy is kept
but not enforced. A key's own Active policy replaces the account's.
"""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass
from typing import Any

from keyhouse.domain import jsondoc
from keyhouse.domain.errors import InvalidValue

MAX_LENGTH = 8192
ALL_VPCS = "AllowAllVPC"
CLASSIC = "ClassicWhiteList"
VPC = "VPCWhiteList"
# The documented way to say "no policy": nothing to enforce.
NONE = '{"Version":1,"Status":"Inactive","Statements":[]}'

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class NetworkPolicyError(InvalidValue):
    def __init__(self, message: str) -> None:
        super().__init__("AccessKeyPolicy", message)


@dataclass(frozen=True, slots=True)
class Entry:
    type: str
    vpc: str
    networks: tuple[Network, ...]

    def matches(self, address: Address, vpc_id: str | None) -> bool:
        if self.type == CLASSIC:
            if vpc_id is not None:
                return False
        elif vpc_id is None or (self.vpc != ALL_VPCS and self.vpc != vpc_id):
            return False
        return any(address.version == n.version and address in n for n in self.networks)


@dataclass(frozen=True, slots=True)
class NetworkPolicy:
    active: bool
    entries: tuple[Entry, ...]

    def allows(self, address: str, vpc_id: str | None = None) -> bool:
        if not self.active:
            return True
        parsed = parse_address(address)
        if parsed is None:
            return False  # an unknown source cannot be on a whitelist
        return any(e.matches(parsed, vpc_id) for e in self.entries)


@functools.lru_cache(maxsize=8192)
def parse_address(text: str) -> Address | None:
    """A client address (IPv4-mapped IPv6 as IPv4), or None. Cached: clients repeat, and
    parsing cost more than the policy check itself."""
    try:
        parsed = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        return parsed.ipv4_mapped
    return parsed


def _network(text: Any) -> Network:
    if not isinstance(text, str):
        raise NetworkPolicyError("IPList entries must be strings.")
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError as exc:
        raise NetworkPolicyError(f"{text!r} is not an IPv4/IPv6 address or CIDR block.") from exc


def _entry(raw: Any) -> Entry:
    if not isinstance(raw, dict):
        raise NetworkPolicyError("Each statement must be an object.")
    unknown = set(raw) - {"Type", "Value", "IPList"}
    if unknown:
        raise NetworkPolicyError(f"Unknown statement field {sorted(unknown)[0]!r}.")
    kind = raw.get("Type")
    if not isinstance(kind, str) or kind not in {CLASSIC, VPC}:
        raise NetworkPolicyError(f"Type must be {CLASSIC} or {VPC}.")
    value = raw.get("Value", "")
    if not isinstance(value, str):
        raise NetworkPolicyError("Value must be a string.")
    if kind == VPC and not value:
        raise NetworkPolicyError(f"A {VPC} statement needs the VPC ID (or {ALL_VPCS}) in Value.")
    if kind == CLASSIC and value:
        raise NetworkPolicyError(f"A {CLASSIC} statement takes no Value.")
    ips = raw.get("IPList")
    if not isinstance(ips, list) or not ips:
        raise NetworkPolicyError("IPList must be a non-empty list of addresses or CIDR blocks.")
    return Entry(kind, value, tuple(_network(i) for i in ips))


def parse(document: str) -> NetworkPolicy:
    """Validate a policy document; raise NetworkPolicyError naming the first problem."""
    if not document or len(document) > MAX_LENGTH:
        raise NetworkPolicyError(f"The policy must be 1 to {MAX_LENGTH} characters of JSON.")
    try:
        raw = jsondoc.load(document)
    except jsondoc.DocumentError as exc:
        raise NetworkPolicyError(f"The policy is not JSON: {exc}.") from exc
    if not isinstance(raw, dict):
        raise NetworkPolicyError("The policy must be a JSON object.")
    unknown = set(raw) - {"Version", "Status", "Statements"}
    if unknown:
        raise NetworkPolicyError(f"Unknown policy field {sorted(unknown)[0]!r}.")
    if raw.get("Version", 1) not in (1, "1"):
        raise NetworkPolicyError("Version must be 1.")
    status = raw.get("Status")
    if not isinstance(status, str) or status not in {"Active", "Inactive"}:
        raise NetworkPolicyError("Status must be Active or Inactive.")
    statements = raw.get("Statements")
    if not isinstance(statements, list):
        raise NetworkPolicyError("Statements must be a list (it may be empty).")
    return NetworkPolicy(status == "Active", tuple(_entry(s) for s in statements))


@functools.lru_cache(maxsize=4096)
def compiled(document: str) -> NetworkPolicy:
    """A stored (already validated) document, parsed once per process."""
    return parse(document)


def applicable(own: str | None, account: str | None) -> NetworkPolicy | None:
    """The policy that governs a key: its own when Active, else the account's when Active."""
    if own is not None:
        mine = compiled(own)
        if mine.active:
            return mine
    if account is not None:
        theirs = compiled(account)
        if theirs.active:
            return theirs
    return None
