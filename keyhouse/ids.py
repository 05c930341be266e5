"""Identifiers and secrets, drawn from the operating system's CSPRNG."""

from __future__ import annotations

import secrets
import string
import uuid

_ALNUM = string.ascii_letters + string.digits


def _digits(n: int) -> str:
    first = secrets.choice("123456789")
    return first + "".join(secrets.choice(string.digits) for _ in range(n - 1))


def account_id() -> str:
    """A 16-digit account ID."""
    return _digits(16)


def user_id() -> str:
    """A 16-digit user ID."""
    return _digits(16)


def access_key_id() -> str:
    """``LTAI`` followed by 20 letters and digits."""
    return "LTAI" + "".join(secrets.choice(_ALNUM) for _ in range(20))


def access_key_secret() -> str:
    """30 letters and digits."""
    return "".join(secrets.choice(_ALNUM) for _ in range(30))


def request_id() -> str:
    return str(uuid.uuid4()).upper()
