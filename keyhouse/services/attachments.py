"""Policy attachments: attach, detach and list, written once over a target (a user, a group or
a role) described by a small table.

A new kind of target is one :class:`Target` (what it is stored as, the wire parameter that
names it, its three actions, how it is found once the caller may act on it) and one entry in
:data:`TARGETS`; the API (keyhouse.api.attachments) and the console
(keyhouse.console.attachments) take their routes from that table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from keyhouse.domain import rules
from keyhouse.domain.actions import Action
from keyhouse.domain.arn import group_resource
from keyhouse.domain.errors import LimitExceeded, NotFound
from keyhouse.domain.model import Account, Attachment, Principal
from keyhouse.services.base import UseCases, UserRef
from keyhouse.services.policies import Attached, attachable, check_policy, view_of
from keyhouse.services.roles import named_role
from keyhouse.store.sql import Tx

# How a target is found: (use-cases, tx, caller, account, action, reference, lock) -> its ID.
Find = Callable[[UseCases, Tx, Principal, Account, Action, Any, bool], str]


def _user(
    uc: UseCases, tx: Tx, who: Principal, account: Account, action: Action, ref: Any, lock: bool
) -> str:
    return uc._target(tx, who, account, action, ref, lock=lock, tags=False).user_id


def _group(
    uc: UseCases, tx: Tx, who: Principal, account: Account, action: Action, name: Any, lock: bool
) -> str:
    rules.validate_group_name(name)
    uc._authorize(tx, who, account, action, group_resource(account.account_id, name))
    group = tx.get_group(account.account_id, name)
    if group is None:
        raise NotFound("group", f"The group does not exist: {name}.")
    return group.group_id


def _role(
    uc: UseCases, tx: Tx, who: Principal, account: Account, action: Action, name: Any, lock: bool
) -> str:
    return named_role(uc, tx, who, account, action, name, lock=lock).role_id


@dataclass(frozen=True, slots=True)
class Target:
    kind: str  # what attachments store: "User" | "Group" | "Role"
    parameter: str  # the wire parameter that names one: "UserName" ...
    attach: Action
    detach: Action
    listing: Action
    find: Find

    def ref(self, name: str) -> Any:
        """What :attr:`find` takes for the name a request gives."""
        return UserRef.name(name, self.parameter) if self.kind == "User" else name


USER = Target(
    "User",
    "UserName",
    Action.AttachPolicyToUser,
    Action.DetachPolicyFromUser,
    Action.ListPoliciesForUser,
    _user,
)
GROUP = Target(
    "Group",
    "GroupName",
    Action.AttachPolicyToGroup,
    Action.DetachPolicyFromGroup,
    Action.ListPoliciesForGroup,
    _group,
)
ROLE = Target(
    "Role",
    "RoleName",
    Action.AttachPolicyToRole,
    Action.DetachPolicyFromRole,
    Action.ListPoliciesForRole,
    _role,
)
TARGETS = (USER, GROUP, ROLE)


class Attachments(UseCases):
    def attach(
        self, principal: Principal, target: Target, ref: Any, policy_type: str, name: str
    ) -> None:
        with self.store.transaction(write=True) as tx:
            account, holder = self._named(
                tx, principal, target.attach, target, ref, policy_type, name
            )
            self._room(tx, target.kind, holder, policy_type)
            tx.attach(account.account_id, target.kind, holder, policy_type, name, self.clock.now())
            tx.bump_grants(account.account_id)

    def detach(
        self, principal: Principal, target: Target, ref: Any, policy_type: str, name: str
    ) -> None:
        with self.store.transaction(write=True) as tx:
            account, holder = self._named(
                tx, principal, target.detach, target, ref, policy_type, name
            )
            if not tx.detach(target.kind, holder, policy_type, name):
                kind = target.kind.lower()
                raise NotFound(
                    f"{kind}.policy", f"The policy is not attached to the {kind}: {name}."
                )
            tx.bump_grants(account.account_id)

    def of(self, principal: Principal, target: Target, ref: Any) -> list[Attached]:
        """The policies attached to the target, with when."""
        with self.store.transaction() as tx:
            account = self._account(tx, principal)
            holder = target.find(self, tx, principal, account, target.listing, ref, False)
            return self._attached(tx, account, tx.attachments_of(target.kind, holder))

    # -- shared -----------------------------------------------------------------------------
    def _named(
        self,
        tx: Tx,
        principal: Principal,
        action: Action,
        target: Target,
        ref: Any,
        policy_type: str,
        name: str,
    ) -> tuple[Account, str]:
        """The account and the target's ID, once the caller may perform ``action`` on both the
        target and the policy, and the policy can be attached."""
        account = self._account(tx, principal)
        holder = target.find(self, tx, principal, account, action, ref, True)
        check_policy(self, tx, principal, account, action, name, policy_type)
        attachable(tx, account, policy_type, name)
        return account, holder

    @staticmethod
    def _room(tx: Tx, kind: str, holder: str, policy_type: str) -> None:
        limit = (
            rules.SYSTEM_POLICIES_PER_PRINCIPAL
            if policy_type == "System"
            else rules.CUSTOM_POLICIES_PER_PRINCIPAL
        )
        held = [a for a in tx.attachments_of(kind, holder) if a.policy_type == policy_type]
        if len(held) >= limit:
            raise LimitExceeded(
                f"{kind.lower()}.policy",
                f"At most {limit} {policy_type.lower()} policies attach to one {kind.lower()}.",
            )

    @staticmethod
    def _attached(tx: Tx, account: Account, found: list[Attachment]) -> list[Attached]:
        return [Attached(view_of(tx, account, a), a.attached_at) for a in found]


__all__ = ["GROUP", "ROLE", "TARGETS", "USER", "Attachments", "Target"]
