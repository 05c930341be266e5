"""RFC 3986 percent-encoding, as both signature schemes use it (only ``A-Za-z0-9-_.~`` stay)."""

from __future__ import annotations

import re
from urllib.parse import quote

_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]*")


def percent_encode(value: str) -> str:
    # Most signed values (actions, versions, IDs, nonces) need no encoding; a regex match costs a
    # tenth of quote(), which walks the string in Python.
    if _UNRESERVED.fullmatch(value):
        return value
    return quote(value, safe="~")
