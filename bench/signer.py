"""Pre-signed RPC (HMAC-SHA1) requests for the load generator, each with its own nonce."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from datetime import UTC, datetime
from urllib.parse import quote, urlencode


def _q(s: str) -> str:
    return quote(s, safe="-_.~")


def signed_path(
    ak: str, secret: str, action: str, version: str, params: dict[str, str] | None = None
) -> str:
    query = {
        "Action": action,
        "Version": version,
        "Format": "JSON",
        "AccessKeyId": ak,
        "SignatureMethod": "HMAC-SHA1",
        "SignatureVersion": "1.0",
        "SignatureNonce": uuid.uuid4().hex,
        "Timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        **(params or {}),
    }
    canonical = "&".join(f"{_q(k)}={_q(v)}" for k, v in sorted(query.items()))
    to_sign = f"POST&%2F&{_q(canonical)}"
    digest = hmac.new(f"{secret}&".encode(), to_sign.encode(), hashlib.sha1).digest()
    query["Signature"] = base64.b64encode(digest).decode()
    return "/?" + urlencode(query)
