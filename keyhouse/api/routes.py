"""Routes: which handler answers (version, Action), with its parameter schema.

Each handler module keeps its routes in a ``ROUTES`` list, filled by decorating its handlers
(``@ROUTES(V, Action.CreateUser, "ims", *params)``); the composition root joins the lists it
serves into one table (:func:`table`). Nothing here imports a handler module.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from keyhouse.api.params import Param
from keyhouse.domain.actions import Action
from keyhouse.domain.model import Principal
from keyhouse.services.registry import Services

Handler = Callable[[Services, Principal, dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class Route:
    version: str
    action: Action
    service: str  # "ims" | "ram" | "sts" | "actiontrail": recorded as the key's last-used service
    handler: Handler
    params: tuple[Param, ...]


class Routes(list[Route]):
    """A handler module's routes, in the order they are declared."""

    def __call__(
        self, version: str, action: Action, service: str, *params: Param
    ) -> Callable[[Handler], Handler]:
        def add(handler: Handler) -> Handler:
            self.append(Route(version, action, service, handler, params))
            return handler

        return add


def table(*lists: Iterable[Route]) -> dict[tuple[str, str], Route]:
    """One table from the modules' lists; an action routed twice in one version is a bug."""
    found: dict[tuple[str, str], Route] = {}
    for routes in lists:
        for entry in routes:
            key = (entry.version, str(entry.action))
            if key in found:
                raise ValueError(f"{key} is routed twice")
            found[key] = entry
    return found
