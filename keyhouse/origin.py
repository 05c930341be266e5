"""Where a request came from: the TCP peer, unless the peer is a trusted proxy.

One resolver serves the API, the gateway endpoint and the console alike, from what every
HTTP request has: the peer's address, its headers and the scheme it arrived over. Nothing
here knows about signatures, pages or the store.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# Headers by lower-case name, each with every value received.
Headers = Mapping[str, Sequence[str]]

# A header only a trusted proxy may set: the VPC a request came from (VPCWhiteList entries).
VPC_HEADER = "x-keyhouse-vpc-id"
UNKNOWN_ADDRESS = "unknown"


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a request came from, as far as we can trust it."""

    address: str
    vpc_id: str | None = None
    secure: bool = False


class OriginResolver:
    """The peer address, unless the peer is a trusted proxy: then the nearest untrusted address
    in X-Forwarded-For, the scheme from X-Forwarded-Proto, and the VPC from X-Keyhouse-Vpc-Id.
    Headers from anyone else are ignored, so a client cannot claim another address or a VPC."""

    # Addresses whose trust is remembered (parsing one costs more than the rest of this).
    REMEMBERED = 4096

    def __init__(self, trusted: Sequence[IpNetwork]) -> None:
        self.trusted = tuple(trusted)
        self._trust: dict[str, bool] = {}

    def _is_trusted(self, address: str) -> bool:
        if not self.trusted:
            return False
        found = self._trust.get(address)
        if found is None:
            try:
                parsed = ipaddress.ip_address(address)
            except ValueError:
                found = False
            else:
                found = any(parsed.version == n.version and parsed in n for n in self.trusted)
            if len(self._trust) >= self.REMEMBERED:
                self._trust.clear()
            self._trust[address] = found
        return found

    def resolve(self, peer: str, headers: Headers, scheme: str) -> Origin:
        if not self._is_trusted(peer):
            return Origin(peer, None, scheme == "https")
        hops = [h.strip() for value in headers.get("x-forwarded-for", ()) for h in value.split(",")]
        address = peer
        for hop in reversed([h for h in hops if h]):
            address = forwarded_address(hop)
            if not self._is_trusted(address):
                break
        proto = (_first(headers, "x-forwarded-proto") or scheme).strip().lower()
        return Origin(address, _first(headers, VPC_HEADER) or None, proto == "https")


def _first(headers: Headers, name: str) -> str | None:
    values = headers.get(name)
    return values[0] if values else None


@functools.lru_cache(maxsize=4096)
def forwarded_address(hop: str) -> str:
    """One X-Forwarded-For entry as an address: ``ip``, ``ip:port``, ``[v6]`` and
    ``[v6]:port`` are understood; anything else (``unknown``, an obfuscated name) is
    ``unknown``, which no network policy allows and every source-dependent Deny refuses."""
    text = hop.strip()
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not (rest.startswith(":") and rest[1:].isdigit())):
            return UNKNOWN_ADDRESS
        text = host
    elif text.count(":") == 1:
        text, port = text.split(":", 1)
        if not port.isdigit():
            return UNKNOWN_ADDRESS
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return UNKNOWN_ADDRESS
