"""Per-action parameter schemas.

A missing required parameter is ``Missing<Name>``; a bad value is ``InvalidParameter.<Name>``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class WireError(Exception):
    """A protocol-level refusal that never reached the domain (its status is the wire's own)."""

    def __init__(self, code: str, status: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.message = message


def missing(name: str) -> WireError:
    return WireError(f"Missing{name}", 400, f"{name} is mandatory for this action.")


def invalid(name: str, why: str) -> WireError:
    return WireError(f"InvalidParameter.{name}", 400, f"The parameter {name} is invalid: {why}")


@dataclass(frozen=True)
class Param:
    name: str
    kind: str = "str"  # "str" | "int" | "bool" | "tags" | "pairs"
    required: bool = False
    max_length: int | None = None
    minimum: int | None = None
    maximum: int | None = None
    choices: tuple[str, ...] = ()

    def parse(self, raw: Mapping[str, str]) -> Any:
        if self.kind == "tags":
            return _tags(raw, self.name)
        if self.kind == "pairs":
            return _pairs(raw, self.name)
        value = raw.get(self.name)
        if value is None:
            if self.required:
                raise missing(self.name)
            return None
        if _CONTROL.search(value):
            raise invalid(self.name, "control characters are not allowed.")
        if self.kind == "int":
            # Digits only: no sign, no spaces, no other script's digits (int() takes them all).
            if not _DIGITS.fullmatch(value):
                raise invalid(self.name, "expected a whole number (digits 0-9 only).")
            number = int(value)
            if (self.minimum is not None and number < self.minimum) or (
                self.maximum is not None and number > self.maximum
            ):
                raise invalid(self.name, f"must be from {self.minimum} to {self.maximum}.")
            return number
        if self.kind == "bool":
            lowered = value.strip().lower()
            if lowered not in {"true", "false"}:
                raise invalid(self.name, "expected true or false.")
            return lowered == "true"
        if self.required and value == "":
            raise missing(self.name)
        if self.max_length is not None and len(value) > self.max_length:
            raise invalid(self.name, f"at most {self.max_length} characters.")
        if self.choices and value not in self.choices:
            raise invalid(self.name, f"must be one of {', '.join(self.choices)}.")
        return value


# C0 control characters other than tab and line breaks: PostgreSQL refuses NUL in text, and none
# of them belongs in a name, a comment or an identifier.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_DIGITS = re.compile(r"[0-9]{1,9}", re.ASCII)

_TAG = re.compile(r"^Tag\.(\d+)\.(Key|Value)\Z", re.ASCII)


def _tags(raw: Mapping[str, str], name: str) -> list[tuple[str, str]]:
    """``Tag.N.Key``/``Tag.N.Value`` (N from 1, consecutive, at most 20)."""
    found: dict[int, dict[str, str]] = {}
    for key, value in raw.items():
        m = _TAG.match(key)
        if m:
            found.setdefault(int(m.group(1)), {})[m.group(2)] = value
    if not found:
        return []
    if sorted(found) != list(range(1, len(found) + 1)) or len(found) > 20:
        raise invalid(name, "tags are numbered 1 to at most 20 without gaps.")
    tags = []
    for n in sorted(found):
        key = found[n].get("Key") or ""
        value = found[n].get("Value") or ""
        if _CONTROL.search(key + value):
            raise invalid(name, "control characters are not allowed.")
        if not key or len(key) > 128 or len(value) > 128:
            raise invalid(name, "a tag key has 1 to 128 characters and a value at most 128.")
        if key.startswith(("acs:", "aliyun")) or "http://" in key or "https://" in key:
            raise invalid(name, "a tag key may not start with acs: or aliyun or contain a URL.")
        tags.append((key, value))
    return tags


def _pairs(raw: Mapping[str, str], name: str) -> list[tuple[str, str]]:
    """``<name>.N.Key``/``<name>.N.Value`` pairs in N order (at most 10)."""
    pattern = re.compile(rf"^{re.escape(name)}\.(\d+)\.(Key|Value)\Z", re.ASCII)
    found: dict[int, dict[str, str]] = {}
    for key, value in raw.items():
        m = pattern.match(key)
        if m:
            found.setdefault(int(m.group(1)), {})[m.group(2)] = value
    if len(found) > 10:
        raise invalid(name, "at most 10 are allowed.")
    pairs = []
    for n in sorted(found):
        key, value = found[n].get("Key") or "", found[n].get("Value") or ""
        if not key or _CONTROL.search(key + value) or len(value) > 256:
            raise invalid(name, "each needs a Key and a Value of at most 256 characters.")
        pairs.append((key, value))
    return pairs


def parse_all(params: tuple[Param, ...], raw: Mapping[str, str]) -> dict[str, Any]:
    return {p.name: p.parse(raw) for p in params}


# Shared by the RAM handler modules.
POLICY_NAME = Param("PolicyName", required=True, max_length=128)
POLICY_TYPE = Param("PolicyType", required=True, max_length=16)
USER_NAME = Param("UserName", required=True, max_length=64)
GROUP_NAME = Param("GroupName", required=True, max_length=64)
MARKER = Param("Marker", max_length=256)
MAX_ITEMS = Param("MaxItems", "int", minimum=1, maximum=1000)
RESOURCE_GROUP = Param("ResourceGroupId", max_length=64)  # accepted, not used: no resource groups


def max_items(p: Mapping[str, Any]) -> int:
    return int(p["MaxItems"] or 100)
