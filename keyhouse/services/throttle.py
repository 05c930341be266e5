"""The per-address throttle of failing sources: an address whose requests keep failing
authentication (bad signatures, unknown keys, stale timestamps) is refused unread for a while.

Each address has a token bucket of ``per_minute`` failures that refills at ``per_minute`` a
minute; while it is empty, the address's requests are refused with ``Throttling.User`` before
their signature is computed or a key is looked up, so a flood of garbage from one address costs
a dictionary lookup per request. At most ``max_sources`` addresses are remembered (the least
recently failing are forgotten first), so the throttle's own memory is bounded whatever the
number of addresses a flood comes from.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from keyhouse.domain.errors import DomainError

# Authentication failures that prove nothing about the caller's secret: what a guesser or a
# broken client produces. Refusals of a proven secret (a network policy, a leaked key, a
# replay) are not counted.
COUNTED = frozenset(
    {
        "incomplete",
        "key_not_found",
        "key_inactive",
        "signature_mismatch",
        "timestamp_expired",
        "timestamp_format",
        "signature_method",
        "security_token",
        "token_missing",
        "token_malformed",
        "token_mismatch",
        "token_expired",
    }
)


class SourceThrottled(DomainError):
    code = "source.throttled"


class SourceThrottle:
    def __init__(
        self,
        per_minute: int,
        *,
        max_sources: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0  # tokens a second
        self.max_sources = max_sources
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, at
        self._lock = threading.Lock()

    def _tokens(self, source: str, now: float) -> float:
        found = self._buckets.get(source)
        if found is None:
            return self.capacity
        tokens, at = found
        return min(self.capacity, tokens + (now - at) * self.rate)

    def check(self, source: str) -> None:
        """Raise SourceThrottled while ``source`` has no failures left to spend."""
        if not self.capacity:
            return
        now = self.clock()
        with self._lock:
            tokens = self._tokens(source, now)
        if tokens < 1.0:
            wait = max(1, round((1.0 - tokens) / self.rate))
            raise SourceThrottled(
                f"Too many requests from this address failed authentication; try again in "
                f"{wait} s.",
                retry_after=str(wait),
            )

    def failed(self, source: str, reason: str) -> None:
        """Spend one of ``source``'s failures (when ``reason`` is one that counts)."""
        if not self.capacity or reason not in COUNTED:
            return
        now = self.clock()
        with self._lock:
            tokens = self._tokens(source, now)
            self._buckets[source] = (max(0.0, tokens - 1.0), now)
            self._buckets.move_to_end(source)
            while len(self._buckets) > self.max_sources:
                self._buckets.popitem(last=False)

    def __len__(self) -> int:
        return len(self._buckets)
