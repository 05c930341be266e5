"""Hand-made RPC (HMAC-SHA1) and ACS3-HMAC-SHA256 requests, signed independently of
keyhouse.signing.

The load generator pre-signs with it (each request its own nonce), and the tests use it where
an SDK cannot be made to misbehave on purpose: old timestamps, reused nonces, long queries.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, urlencode


def _q(s: str) -> str:
    return quote(s, safe="-_.~")


def stamp(offset: timedelta = timedelta()) -> str:
    return (datetime.now(UTC) + offset).strftime("%Y-%m-%dT%H:%M:%SZ")


def rpc_query(
    ak: str,
    secret: str,
    action: str,
    version: str,
    params: dict[str, str] | None = None,
    *,
    timestamp: str | None = None,
    nonce: str | None = None,
    method: str = "POST",
) -> dict[str, str]:
    """Every query parameter of a signed RPC request, ``Signature`` included."""
    query = {
        "Action": action,
        "Version": version,
        "Format": "JSON",
        "AccessKeyId": ak,
        "SignatureMethod": "HMAC-SHA1",
        "SignatureVersion": "1.0",
        "SignatureNonce": nonce or uuid.uuid4().hex,
        "Timestamp": timestamp or stamp(),
        **(params or {}),
    }
    canonical = "&".join(f"{_q(k)}={_q(v)}" for k, v in sorted(query.items()))
    to_sign = f"{method}&%2F&{_q(canonical)}"
    digest = hmac.new(f"{secret}&".encode(), to_sign.encode(), hashlib.sha1).digest()
    query["Signature"] = base64.b64encode(digest).decode()
    return query


def signed_path(
    ak: str, secret: str, action: str, version: str, params: dict[str, str] | None = None
) -> str:
    """``/?<query>`` of a signed POST, ready for the load generator."""
    return "/?" + urlencode(rpc_query(ak, secret, action, version, params))


def v3_headers(
    host: str,
    ak: str,
    secret: str,
    action: str,
    version: str,
    query: dict[str, str],
    *,
    date: str | None = None,
    nonce: str | None = None,
    body: bytes = b"",
    token: str | None = None,
    method: str = "POST",
    path: str = "/",
) -> dict[str, str]:
    headers = {
        "host": host,
        "x-acs-action": action,
        "x-acs-version": version,
        "x-acs-date": date or stamp(),
        "x-acs-signature-nonce": nonce or uuid.uuid4().hex,
        "x-acs-content-sha256": hashlib.sha256(body).hexdigest(),
        "accept": "application/json",
    }
    if token is not None:  # a temporary credential's: signed, as every x-acs- header
        headers["x-acs-security-token"] = token
    names = sorted(headers)
    canonical = "\n".join(
        [
            method,
            path,
            "&".join(f"{_q(k)}={_q(v)}" for k, v in sorted(query.items())),
            "".join(f"{n}:{headers[n].strip()}\n" for n in names),
            ";".join(names),
            hashlib.sha256(body).hexdigest(),
        ]
    )
    to_sign = "ACS3-HMAC-SHA256\n" + hashlib.sha256(canonical.encode()).hexdigest()
    signature = hmac.new(secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (
        f"ACS3-HMAC-SHA256 Credential={ak},SignedHeaders={';'.join(names)},Signature={signature}"
    )
    return headers
