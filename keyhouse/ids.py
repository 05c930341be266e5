"""Identifiers and secrets, drawn from the operating system's CSPRNG."""

from __future__ import annotations

import itertools
import os
import secrets
import string
import threading
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


def group_id() -> str:
    """``g-`` followed by 16 digits."""
    return "g-" + _digits(16)


def role_id() -> str:
    """A 19-digit role ID (the vendor's are numeric strings of 17 to 19 digits)."""
    return str(secrets.choice("123456789")) + _digits(18)


def access_key_id() -> str:
    """``LTAI`` followed by 20 letters and digits."""
    return "LTAI" + "".join(secrets.choice(_ALNUM) for _ in range(20))


def access_key_secret() -> str:
    """30 letters and digits."""
    return "".join(secrets.choice(_ALNUM) for _ in range(30))


class _RequestIds:
    """UUID-shaped request IDs: 64 random bits per process, then a counter.

    Unique without a system call per request (uuid4 reads the OS RNG every time, which showed
    as a tenth of the busy time in a profile). A forked process draws a new prefix.
    """

    def __init__(self) -> None:
        self._pid = -1
        self._prefix = ""
        self._counter = itertools.count()

    def __call__(self) -> str:
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._prefix = secrets.token_hex(8).upper()
            self._counter = itertools.count()
        n = f"{next(self._counter):016X}"
        p = self._prefix
        return f"{p[:8]}-{p[8:12]}-{p[12:16]}-{n[:4]}-{n[4:]}"


request_id = _RequestIds()


class _EventIds:
    """Random (version 4) UUIDs for audit events, from the OS RNG read 4 KiB at a time.

    uuid4 reads the OS RNG on every call; on the event loop that system call hands the GIL
    to the commit thread and waits to get it back (a fifth of the loop's time in a profile).
    """

    _CHUNK = 16 * 256

    def __init__(self) -> None:
        self._pid = -1
        self._pool = b""
        self._at = 0
        self._lock = threading.Lock()

    def __call__(self) -> str:
        with self._lock:
            if self._at >= len(self._pool) or self._pid != os.getpid():
                self._pid = os.getpid()
                self._pool = os.urandom(self._CHUNK)
                self._at = 0
            chunk = self._pool[self._at : self._at + 16]
            self._at += 16
        return str(uuid.UUID(bytes=chunk, version=4))


event_id = _EventIds()
