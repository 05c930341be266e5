"""JSON documents from clients (policies, network policies), read within bounds.

``json.loads`` alone turns a deeply nested document into a RecursionError and a 5,000-digit
number into a ValueError from ``int``: both would reach the client as a 500. Here nesting is
counted before parsing (one linear pass) and numbers are refused past a sane length.
"""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 16
MAX_NUMBER_LENGTH = 32


class DocumentError(ValueError):
    """The text is not a JSON document within bounds; the message says why."""


def _depth(text: str) -> int:
    deepest = depth = 0
    in_string = escaped = False
    for c in text:
        if in_string:
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        elif c in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif c in "]}":
            depth -= 1
    return deepest


def _number(kind: type[int] | type[float]) -> Any:
    def parse(text: str) -> int | float:
        if len(text) > MAX_NUMBER_LENGTH:
            raise DocumentError(f"a number longer than {MAX_NUMBER_LENGTH} characters")
        return kind(text)

    return parse


def _constant(name: str) -> Any:
    raise DocumentError(f"{name} is not JSON")


def load(text: str) -> Any:
    """Parse ``text``; raise DocumentError (a ValueError) with a short reason."""
    if _depth(text) > MAX_DEPTH:
        raise DocumentError(f"it is nested deeper than {MAX_DEPTH} levels")
    try:
        return json.loads(
            text, parse_int=_number(int), parse_float=_number(float), parse_constant=_constant
        )
    except DocumentError:
        raise
    except json.JSONDecodeError as exc:
        raise DocumentError(exc.msg) from exc
    except (ValueError, RecursionError) as exc:
        raise DocumentError("it cannot be read") from exc
