"""The table from (version, Action) to a handler and its parameter schema.

Handlers declare their entry with :func:`route`; :func:`table` collects the entries of the
handler modules into one mapping, built once by the composition root.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from keyhouse.api.params import Param
from keyhouse.domain.model import Principal
from keyhouse.services.registry import Services

Handler = Callable[[Services, Principal, dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class Route:
    version: str
    action: str
    service: str  # "ims" | "ram" | "sts": recorded as the key's last-used service
    handler: Handler
    params: tuple[Param, ...]


def route(version: str, action: str, service: str, *params: Param) -> Callable[[Handler], Handler]:
    def mark(handler: Handler) -> Handler:
        handler.route = Route(version, action, service, handler, params)  # type: ignore[attr-defined]
        return handler

    return mark


def table(*modules: ModuleType) -> dict[tuple[str, str], Route]:
    found: dict[tuple[str, str], Route] = {}
    for module in modules:
        for value in vars(module).values():
            entry = getattr(value, "route", None)
            if isinstance(entry, Route):
                found[(entry.version, entry.action)] = entry
    return found


def default_table() -> dict[tuple[str, str], Route]:
    from keyhouse.api import access, ims, ram, sts, trail

    return table(ims, ram, sts, access, trail)
