"""RFC 3986 percent-encoding, as both signature schemes use it (only ``A-Za-z0-9-_.~`` stay)."""

from __future__ import annotations

import re
import string
from urllib.parse import quote

_SAFE = string.ascii_letters + string.digits + "_.~-"
_UNRESERVED = re.compile(f"[{re.escape(_SAFE)}]*")
# Every other ASCII character to its escape, for str.translate (one pass in C).
_ASCII = {c: f"%{c:02X}" for c in range(128) if chr(c) not in _SAFE}


def percent_encode(value: str) -> str:
    # Most signed values (actions, versions, IDs, nonces) need no encoding; a regex match costs a
    # tenth of quote(), which walks the string in Python. ASCII values (a timestamp's colons, a
    # canonical query string) are translated in C; only other text goes through quote().
    if _UNRESERVED.fullmatch(value):
        return value
    if value.isascii():
        return value.translate(_ASCII)
    return quote(value, safe="~")
