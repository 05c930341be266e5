"""Console passwords and the sign-in throttle: argon2id hashing with a bound on how many
hashes run at once, the password rule, and what every sign-in attempt (a password or an MFA
code) counts against."""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from keyhouse.domain.errors import DomainError, InvalidValue
from keyhouse.store.sql import Tx

THROTTLE_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_PAIR = 5
MAX_FAILURES_PER_ADDRESS = 20
MAX_FAILURES_PER_USER = 100
# argon2id takes 64 MiB a hash: at most this many run at once, whatever the load.
MAX_CONCURRENT_HASHES = 2
HASH_WAIT = 10.0

_hasher = PasswordHasher()  # argon2id, 64 MiB, 3 passes: the library's (RFC 9106) defaults
# Verified when the account or user does not exist, so that a wrong name costs as much time
# as a wrong password and timing does not reveal which names exist.
_DUMMY = _hasher.hash(secrets.token_urlsafe(16))


def check_password_policy(password: str, parameter: str = "Password") -> str:
    """8 to 32 characters with a lower-case letter, an upper-case letter and a digit."""
    if not (
        8 <= len(password) <= 32
        and re.search(r"[a-z]", password)
        and re.search(r"[A-Z]", password)
        and re.search(r"[0-9]", password)
    ):
        raise InvalidValue(
            f"{parameter}.TooWeak",
            "The password must be 8 to 32 characters long and contain a lower-case letter, "
            "an upper-case letter and a digit.",
        )
    return password


_hashing = threading.BoundedSemaphore(MAX_CONCURRENT_HASHES)


class ConsoleBusy(DomainError):
    code = "console.busy"


@contextmanager
def _hash_slot() -> Iterator[None]:
    if not _hashing.acquire(timeout=HASH_WAIT):
        raise ConsoleBusy("The console is busy; try again in a moment.")
    try:
        yield
    finally:
        _hashing.release()


def verify(stored: str | None, password: str) -> bool:
    with _hash_slot():
        try:
            return _hasher.verify(stored or _DUMMY, password) and stored is not None
        except (VerificationError, InvalidHashError):
            return False


def hash_password(password: str) -> str:
    with _hash_slot():
        return _hasher.hash(password)


def _backoff(limit: int) -> Callable[[int], timedelta]:
    """How long a throttle window lasts once it holds ``attempts``: 15 minutes, doubled for
    every attempt beyond the limit (up to 32 times)."""

    def window(attempts: int) -> timedelta:
        return THROTTLE_WINDOW * int(2 ** min(max(attempts - limit, 0), 5))

    return window


Subjects = tuple[tuple[str, int], ...]


def attempt_subjects(account_name: str, user_name: str | None, address: str) -> Subjects:
    """What a sign-in attempt counts against, each with its limit: the person from this
    address, the address, and the person from anywhere."""
    who = f"{account_name}/{user_name or ''}"
    return (
        (f"pair:{who}@{address}"[:200], MAX_FAILURES_PER_PAIR),
        (f"address:{address}"[:200], MAX_FAILURES_PER_ADDRESS),
        (f"user:{who}"[:200], MAX_FAILURES_PER_USER),
    )


def count_attempt(tx: Tx, subjects: Subjects, now: datetime) -> bool:
    """Count one attempt against each subject; whether any is now over its limit."""
    counted = [
        (tx.count_attempt(subject, now, _backoff(limit)), limit) for subject, limit in subjects
    ]
    return any(count > limit for count, limit in counted)


def forgive(tx: Tx, subjects: Subjects) -> None:
    """A good sign-in: this person's failures from this address are cleared, and its attempt
    is not held against the address or the person."""
    tx.clear_failures(subjects[0][0])
    for subject, _ in subjects[1:]:
        tx.forgive_attempt(subject)
