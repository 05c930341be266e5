"""``*``/``?`` wildcard patterns (policy Action, Resource, StringLike) matched without
backtracking.

A pattern is split at its stars into segments. The first segment must match at the start of
the text and the last at its end; each middle segment is matched at its leftmost place after
the previous one. Taking the leftmost place is always safe: a later place leaves less text for
the segments after it, never more. Each segment is fixed-length (``?`` is exactly one
character), so finding it is a bounded scan, and the whole match costs at most
O(len(text) x len(pattern)), never the exponential time a backtracking regular expression
takes on ``********X``.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Segment:
    text: str
    search: re.Pattern[str] | None  # None: no ``?`` in it, a plain substring search works

    def at(self, text: str, pos: int) -> bool:
        if self.search is None:
            return text.startswith(self.text, pos)
        return self.search.match(text, pos) is not None

    def find(self, text: str, pos: int, end: int) -> int:
        if self.search is None:
            return text.find(self.text, pos, end)
        found = self.search.search(text, pos, end)
        return found.start() if found is not None else -1


def _segment(text: str, ignore_case: bool) -> Segment:
    if "?" not in text:
        return Segment(text, None)
    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    # A fixed-length run of literals and single-character dots: no quantifier, no backtracking.
    return Segment(
        text, re.compile("".join("." if c == "?" else re.escape(c) for c in text), flags)
    )


@dataclass(frozen=True, slots=True)
class Wildcard:
    pattern: str
    ignore_case: bool
    segments: tuple[Segment, ...]
    starred: bool  # at least one ``*``

    def matches(self, text: str) -> bool:
        """Does the whole of ``text`` match the pattern?"""
        if self.ignore_case:
            text = text.lower()
        segments = self.segments
        if not self.starred:
            only = segments[0]
            return len(text) == len(only.text) and only.at(text, 0)
        first, last = segments[0], segments[-1]
        end = len(text) - len(last.text)
        if end < len(first.text) or not first.at(text, 0) or not last.at(text, end):
            return False
        pos = len(first.text)
        for middle in segments[1:-1]:
            found = middle.find(text, pos, end)
            if found < 0:
                return False
            pos = found + len(middle.text)
        return True


@functools.lru_cache(maxsize=4096)
def compile_wildcard(pattern: str, *, ignore_case: bool = False) -> Wildcard:
    """``*`` is any run of characters (none included), ``?`` exactly one character."""
    if ignore_case:
        pattern = pattern.lower()
    parts = pattern.split("*")
    return Wildcard(
        pattern, ignore_case, tuple(_segment(p, ignore_case) for p in parts), len(parts) > 1
    )
