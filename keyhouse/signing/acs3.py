"""ACS3-HMAC-SHA256, exactly as tea-openapi computes it (see the wire reference, section 3)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from keyhouse.signing.percent import percent_encode

ALGORITHM = "ACS3-HMAC-SHA256"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


class MalformedAuthorization(ValueError):
    """The Authorization header is not ``<alg> Credential=..,SignedHeaders=..,Signature=..``."""


@dataclass(frozen=True)
class Authorization:
    algorithm: str
    credential: str
    signed_headers: tuple[str, ...]
    signature: str


def parse_authorization(header: str) -> Authorization:
    algorithm, _, rest = header.strip().partition(" ")
    parts: dict[str, str] = {}
    for item in rest.split(","):
        name, eq, value = item.strip().partition("=")
        if not eq or name in parts:
            raise MalformedAuthorization(f"cannot read {item.strip()!r}")
        parts[name] = value
    try:
        credential = parts["Credential"]
        signed = parts["SignedHeaders"]
        signature = parts["Signature"]
    except KeyError as exc:
        raise MalformedAuthorization(f"{exc.args[0]} is missing") from exc
    if not (algorithm and credential and signed and signature):
        raise MalformedAuthorization("an element is empty")
    names = tuple(signed.split(";"))
    if any(n != n.lower() or not n for n in names):
        raise MalformedAuthorization("SignedHeaders must be lower-case names")
    return Authorization(algorithm, credential, names, signature)


def canonical_query(params: Sequence[tuple[str, str]]) -> str:
    return "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in sorted(params))


def canonical_request(
    method: str,
    path: str,
    params: Sequence[tuple[str, str]],
    headers: Mapping[str, Sequence[str]],
    signed_headers: Sequence[str],
    payload_hash: str,
) -> str:
    """``headers`` maps lower-case names to every value received under that name."""
    lines = []
    for name in signed_headers:
        values = sorted(v.strip() for v in headers.get(name, ()))
        lines.append(f"{name}:{','.join(values)}\n")
    return "\n".join(
        [
            method.upper(),
            path or "/",
            canonical_query(params),
            "".join(lines),
            ";".join(signed_headers),
            payload_hash,
        ]
    )


def string_to_sign(canonical: str, algorithm: str = ALGORITHM) -> str:
    return f"{algorithm}\n{hashlib.sha256(canonical.encode()).hexdigest()}"


def sign(secret: str, to_sign: str) -> str:
    return hmac.digest(secret.encode(), to_sign.encode(), hashlib.sha256).hex()
