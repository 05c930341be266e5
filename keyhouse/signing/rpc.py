"""The RPC scheme: HMAC-SHA1 over the sorted, percent-encoded parameters (reference, section 4)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence

from keyhouse.signing.percent import percent_encode


def string_to_sign(method: str, params: Sequence[tuple[str, str]], path: str = "/") -> str:
    """``params`` are every query and form parameter except ``Signature``.

    The vendor always signs ``/``, the only path RPC uses; signing the path received binds it
    too, and is the same thing for every well-formed request.
    """
    canonical = "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in sorted(params))
    return f"{method.upper()}&{percent_encode(path)}&{percent_encode(canonical)}"


def sign(secret: str, to_sign: str) -> str:
    digest = hmac.digest((secret + "&").encode(), to_sign.encode(), hashlib.sha1)
    return base64.b64encode(digest).decode()
