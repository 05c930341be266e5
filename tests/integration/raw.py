"""Hand-made signed requests, from signers written independently of keyhouse.signing.

Used where an SDK cannot be made to misbehave on purpose: old timestamps, reused nonces,
missing pieces, long queries. The signers are the load generator's (bench/signer.py).
"""

from __future__ import annotations

import http.client
import json
from typing import Any
from urllib.parse import quote, urlencode

from bench.signer import rpc_query, stamp, v3_headers

__all__ = ["call_rpc", "post_rpc", "rpc_query", "send", "stamp", "v3_headers"]


def _q(s: str) -> str:
    return quote(s, safe="-_.~")


def send(
    endpoint: str,
    method: str,
    target: str,
    headers: list[tuple[str, str]] | dict[str, str],
    body: bytes = b"",
    source: str | None = None,
) -> tuple[int, dict[str, Any]]:
    """Send exactly these headers (no Host or Accept-Encoding added) and parse the JSON reply."""
    host, port = endpoint.split(":")
    conn = http.client.HTTPConnection(
        host, int(port), timeout=30, source_address=(source, 0) if source else None
    )
    try:
        conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
        items = headers.items() if isinstance(headers, dict) else headers
        for name, value in items:
            conn.putheader(name, value)
        if body or method == "POST":
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body or None)
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        conn.close()


def post_rpc(
    endpoint: str, query: dict[str, str], source: str | None = None
) -> tuple[int, dict[str, Any]]:
    return send(endpoint, "POST", "/?" + urlencode(query), {"host": endpoint}, source=source)


def call_rpc(
    endpoint: str,
    key: dict[str, Any],
    action: str,
    version: str,
    params: dict[str, str] | None = None,
    source: str | None = None,
) -> tuple[int, dict[str, Any]]:
    """One signed RPC call with ``key`` (an AccessKey object with its secret), optionally from
    the loopback address ``source`` (127.0.0.2 and so on: a real, different source address)."""
    query = rpc_query(key["AccessKeyId"], key["AccessKeySecret"], action, version, params)
    return post_rpc(endpoint, query, source)
