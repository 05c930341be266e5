"""Time, injected: rules never call ``datetime.now()`` themselves."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """Return the current time as an aware UTC datetime."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that reads a fixed instant (for ``keyhouse purge --as-of`` and for tests)."""

    def __init__(self, instant: datetime) -> None:
        self.instant = instant.astimezone(UTC)

    def now(self) -> datetime:
        return self.instant


def format_date(value: datetime | None) -> str:
    """Render a time the way the vendor APIs do: ``YYYY-MM-DDThh:mm:ssZ``, empty for None."""
    if value is None:
        return ""
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    # isoformat is several times faster than strftime: "YYYY-MM-DDThh:mm:ss" is its start.
    return value.isoformat(timespec="seconds")[:19] + "Z"


def parse_date(text: str) -> datetime:
    """Parse ``YYYY-MM-DDThh:mm:ssZ`` (or any ISO 8601 form with an offset) into aware UTC."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError("a time zone is required")
    return value.astimezone(UTC)
