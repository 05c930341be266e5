"""Domain errors: a stable code and data, never an HTTP status.

Each surface (wire API, CLI, console) maps ``code`` to its own presentation; the wire mapping
lives in :mod:`keyhouse.domain.codes`.
"""

from __future__ import annotations


class DomainError(Exception):
    """A rule refused the request. ``code`` is stable; ``message`` is for people."""

    code: str = "domain_error"

    def __init__(self, message: str, **data: str) -> None:
        super().__init__(message)
        self.message = message
        self.data = data


class NotFound(DomainError):
    """An entity does not exist (or is not visible to the caller)."""

    def __init__(self, entity: str, message: str, **data: str) -> None:
        super().__init__(message, **data)
        self.entity = entity
        self.code = f"not_found.{entity}"


class AlreadyExists(DomainError):
    def __init__(self, entity: str, message: str, **data: str) -> None:
        super().__init__(message, **data)
        self.entity = entity
        self.code = f"already_exists.{entity}"


class LimitExceeded(DomainError):
    def __init__(self, what: str, message: str, **data: str) -> None:
        super().__init__(message, **data)
        self.what = what
        self.code = f"limit_exceeded.{what}"


class Conflict(DomainError):
    """The entity is in a state that forbids the operation (an Active key, a binned user)."""

    def __init__(self, what: str, message: str, **data: str) -> None:
        super().__init__(message, **data)
        self.what = what
        self.code = f"conflict.{what}"


class InvalidValue(DomainError):
    """A parameter value breaks a rule (length, characters, domain)."""

    def __init__(self, parameter: str, message: str, **data: str) -> None:
        super().__init__(message, **data)
        self.parameter = parameter
        self.code = "invalid_value"


class PermissionDenied(DomainError):
    code = "permission_denied"

    def __init__(self, message: str, *, action: str, reason: str, **data: str) -> None:
        super().__init__(message, **data)
        self.action = action
        self.reason = reason


class StoreLocked(DomainError):
    """The store holds secrets that the configured master key cannot open."""

    code = "store_locked"


class Unavailable(DomainError):
    """The store could not record what was done (its event): try again later."""

    code = "unavailable"


class MalformedDocument(DomainError):
    """A trust policy that is not one Keyhouse can enforce exactly; the message says why."""

    code = "malformed_policy_document"
