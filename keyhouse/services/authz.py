"""Authorization decisions as values with a reason, not bare booleans."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from keyhouse.domain.errors import PermissionDenied
from keyhouse.domain.model import Principal


class Effect(StrEnum):
    ALLOW = "Allow"
    IMPLICIT_DENY = "ImplicitDeny"
    EXPLICIT_DENY = "ExplicitDeny"


@dataclass(frozen=True, slots=True)
class Decision:
    effect: Effect
    reason: str
    statement: str | None = None

    @property
    def allowed(self) -> bool:
        return self.effect is Effect.ALLOW


# Until permission policies exist, a RAM user may only ask who it is.
_ALWAYS_ALLOWED_FOR_USERS = frozenset({"sts:GetCallerIdentity"})


class Authorizer:
    """Decides whether a principal may perform an action inside an account."""

    def decide(self, principal: Principal, action: str, account_id: str) -> Decision:
        if principal.account_id != account_id and not principal.is_operator:
            return Decision(Effect.IMPLICIT_DENY, "the resource belongs to another account")
        if principal.is_operator:
            return Decision(Effect.ALLOW, "local operator")
        if principal.is_root:
            return Decision(Effect.ALLOW, "account root")
        if action in _ALWAYS_ALLOWED_FOR_USERS:
            return Decision(Effect.ALLOW, "allowed for every authenticated principal")
        return Decision(Effect.IMPLICIT_DENY, "no policy allows this action")

    def require(self, principal: Principal, action: str, account_id: str) -> Decision:
        """Return the Allow decision, or raise PermissionDenied carrying the reason."""
        decision = self.decide(principal, action, account_id)
        if not decision.allowed:
            raise PermissionDenied(
                "You are not authorized to do this action.",
                action=action,
                reason=decision.reason,
                effect=decision.effect.value,
            )
        return decision
