"""Identifiers and secrets, drawn from the operating system's CSPRNG."""

from __future__ import annotations

import itertools
import os
import secrets
import string
import threading

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
        self._restart()
        os.register_at_fork(after_in_child=self._restart)

    def _restart(self) -> None:
        p = secrets.token_hex(8).upper()
        self._prefix = f"{p[:8]}-{p[8:12]}-{p[12:16]}-"
        self._counter = itertools.count()

    def __call__(self) -> str:
        n = f"{next(self._counter):016X}"
        return f"{self._prefix}{n[:4]}-{n[4:]}"


request_id = _RequestIds()


class _EventIds:
    """Random (version 4) UUIDs for audit events, made 256 at a time from one read of the OS
    RNG.

    uuid4 reads the OS RNG on every call; on the event loop that system call hands the GIL
    to the commit thread and waits to get it back (a fifth of the loop's time in a profile).
    A forked process starts a pool of its own.
    """

    _BATCH = 256

    def __init__(self) -> None:
        self._pool: list[str] = []
        self._lock = threading.Lock()
        os.register_at_fork(after_in_child=self._forget)

    def _forget(self) -> None:
        self._pool = []
        self._lock = threading.Lock()  # another thread of the parent may have held it

    def __call__(self) -> str:
        with self._lock:
            if not self._pool:
                self._pool = _uuid4s(self._BATCH)
            return self._pool.pop()


def _uuid4s(count: int) -> list[str]:
    """``count`` version-4 UUIDs as ``str(uuid.uuid4())`` writes them."""
    found = []
    for chunk in _chunks(bytearray(os.urandom(16 * count)), 16):
        chunk[6] = (chunk[6] & 0x0F) | 0x40  # version 4
        chunk[8] = (chunk[8] & 0x3F) | 0x80  # the RFC 4122 variant
        h = chunk.hex()
        found.append(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")
    return found


def _chunks(data: bytearray, size: int) -> list[bytearray]:
    return [data[i : i + size] for i in range(0, len(data), size)]


event_id = _EventIds()
