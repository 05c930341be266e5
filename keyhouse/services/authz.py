"""Authorization decisions as values with a reason, not bare booleans.

The account root and the local operator may do anything in their account. A RAM user may do
what its policies (attached to it or to its groups) allow, evaluated as RAM does: an explicit
Deny wins, then any Allow, else an implicit deny. ``sts:GetCallerIdentity`` needs no permission,
and with the account's AllowUserToManageAccessKeys preference a user manages its own keys
without a policy (an explicit Deny still wins).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from keyhouse.clock import Clock
from keyhouse.domain import netpolicy, policy
from keyhouse.domain.actions import SELF_SERVICE_KEY_ACTIONS, Action, Permission, Scope
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
    policy: str | None = None  # "Custom:Name" or "System:Name" that decided, if one did

    @property
    def allowed(self) -> bool:
        return self.effect is Effect.ALLOW


@dataclass(frozen=True, slots=True)
class Grants:
    """A RAM user's attached policies (its own and its groups'), and its account's preference."""

    policies: Sequence[tuple[str, policy.Policy]]
    manage_own_keys: bool


class GrantCache:
    """Each RAM user's compiled policies, per process, tagged with the account's grants epoch
    when they were read. Any change to attachments, memberships or default versions bumps the
    epoch in the store, and every request reads the account row in its own transaction, so a
    stale entry is never used: a detached policy stops working on the very next request, on
    every instance. Bounded; the least recently used user drops out."""

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._entries: OrderedDict[str, tuple[int, Sequence[tuple[str, policy.Policy]]]] = (
            OrderedDict()
        )
        self._lock = threading.Lock()

    def get(self, user_id: str, epoch: int) -> Sequence[tuple[str, policy.Policy]] | None:
        with self._lock:
            found = self._entries.get(user_id)
            if found is None or found[0] != epoch:
                return None
            self._entries.move_to_end(user_id)
            return found[1]

    def put(self, user_id: str, epoch: int, policies: Sequence[tuple[str, policy.Policy]]) -> None:
        with self._lock:
            self._entries[user_id] = (epoch, policies)
            self._entries.move_to_end(user_id)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)


class Authorizer:
    """Decides whether a principal may perform an action on a resource of an account."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.cache = GrantCache()

    def decide(
        self,
        principal: Principal,
        action: Action,
        account_id: str,
        resource: str = "*",
        grants: Callable[[], Grants] | None = None,
        target_user_id: str | None = None,
    ) -> Decision:
        """``grants`` is called only when policies matter (a RAM user, a non-free action)."""
        self_service = action in SELF_SERVICE_KEY_ACTIONS
        return self.decide_permission(
            principal, action.permission, account_id, resource, grants, target_user_id, self_service
        )

    def decide_permission(
        self,
        principal: Principal,
        permission: Permission,
        account_id: str,
        resource: str = "*",
        grants: Callable[[], Grants] | None = None,
        target_user_id: str | None = None,
        self_service: bool = False,
    ) -> Decision:
        """:meth:`decide` for any permission: Keyhouse's own actions, and those of the services
        an account protects (``orders:GetOrder``)."""
        if principal.account_id != account_id and not principal.is_operator:
            return Decision(Effect.IMPLICIT_DENY, "the resource belongs to another account")
        if principal.is_operator:
            return Decision(Effect.ALLOW, "local operator")
        if principal.is_root:
            return Decision(Effect.ALLOW, "account root")
        if permission.scope is Scope.NONE:
            return Decision(Effect.ALLOW, "allowed for every authenticated principal")
        held = grants() if grants is not None else Grants((), False)
        ctx = policy.RequestContext(
            action=permission.action,
            resource=resource,
            source_ip=netpolicy.parse_address(principal.source_ip),
            current_time=self.clock.now(),
            secure_transport=principal.secure_transport,
        )
        verdict = policy.evaluate(held.policies, ctx)
        session = principal.session
        if (
            session is not None
            and session.policy is not None
            and verdict.effect is policy.Effect.ALLOW
        ):
            # A role session's permissions: the role's policies, narrowed by the session policy
            # given to AssumeRole (both must allow; a Deny in either refuses).
            narrowed = policy.evaluate([("Session", policy.compiled(session.policy))], ctx)
            if narrowed.effect is policy.Effect.DENY:
                return Decision(Effect.EXPLICIT_DENY, "the session policy denies this action")
            if narrowed.effect is not policy.Effect.ALLOW:
                return Decision(
                    Effect.IMPLICIT_DENY, "the session policy does not allow this action"
                )
        if verdict.effect is policy.Effect.DENY:
            return Decision(Effect.EXPLICIT_DENY, "a policy denies this action", verdict.policy)
        if verdict.effect is policy.Effect.ALLOW:
            return Decision(Effect.ALLOW, "a policy allows this action", verdict.policy)
        if (
            held.manage_own_keys
            and self_service
            and target_user_id is not None
            and target_user_id == principal.user_id
        ):
            return Decision(Effect.ALLOW, "users may manage their own AccessKeys (preference)")
        return Decision(Effect.IMPLICIT_DENY, "no policy allows this action")

    def require(
        self,
        principal: Principal,
        action: Action,
        account_id: str,
        resource: str = "*",
        grants: Callable[[], Grants] | None = None,
        target_user_id: str | None = None,
    ) -> Decision:
        """Return the Allow decision, or raise PermissionDenied carrying the reason."""
        decision = self.decide(principal, action, account_id, resource, grants, target_user_id)
        if not decision.allowed:
            raise PermissionDenied(
                "You are not authorized to do this action.",
                action=action.permission.action,
                reason=decision.reason,
                effect=decision.effect.value,
            )
        return decision
