"""STS AssumeRole: who may assume a role, for how long, with which session policy; the
temporary credentials it mints are keyhouse.services.tokens."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from keyhouse.clock import format_date
from keyhouse.domain import policy, trust
from keyhouse.domain.actions import Action
from keyhouse.domain.arn import parse_role_arn, role_resource
from keyhouse.domain.errors import InvalidValue, PermissionDenied
from keyhouse.domain.model import Principal, RoleSession
from keyhouse.services.base import UseCases
from keyhouse.services.tokens import Minted, mint
from keyhouse.services.trail import draft as audit

DURATION = (900, 3600)  # the least, the default
CHAINED_MAX = 3600  # the longest session a temporary credential may start (role chaining)
_SESSION_NAME = re.compile(r"^[\w.@-]{2,64}\Z", re.ASCII)
_EXTERNAL_ID = re.compile(r"^[\w+=,.@:/-]{2,1224}\Z", re.ASCII)


class Sts(UseCases):
    def assume_role(
        self,
        principal: Principal,
        role_arn: str,
        session_name: str,
        duration: int | None,
        session_policy: str | None,
        external_id: str | None,
    ) -> Minted:
        found = parse_role_arn(role_arn)
        if found is None:
            raise InvalidValue("RoleArn", "The role ARN must be acs:ram::<account id>:role/<name>.")
        if not _SESSION_NAME.match(session_name):
            raise InvalidValue(
                "RoleSessionName",
                "The session name must be 2 to 64 letters, digits, periods, @, - or _.",
            )
        if external_id is not None and not _EXTERNAL_ID.match(external_id):
            raise InvalidValue("ExternalId", "The external ID must be 2 to 1224 characters.")
        if session_policy is not None:
            if len(session_policy) > 2048:
                raise InvalidValue(
                    "PolicySize", "The session policy must be at most 2048 characters."
                )
            try:
                policy.parse(session_policy)
            except InvalidValue as exc:
                raise InvalidValue("PolicyGrammar", exc.message) from None
        seconds = DURATION[1] if duration is None else duration
        if principal.is_root:
            raise PermissionDenied(
                "Roles may not be assumed by root accounts.",
                action="sts:AssumeRole",
                reason="an account's root may not assume roles",
            )
        account_id, name = found
        session = principal.session
        # Role chaining (a temporary credential assuming a role) is capped at an hour, as the
        # vendor documents, and never outlives the session that asks: a session cannot renew
        # itself past the life the long-term key's AssumeRole gave the chain.
        longest = CHAINED_MAX if session is not None else None
        with self.store.transaction() as tx:
            own = self._account(tx, principal)
            # The caller's own policies allow it on the role (in whatever account it is) ...
            resource = role_resource(account_id, name)
            self._authorize(tx, principal, own, Action.AssumeRole, resource)
            role = tx.get_role(account_id, name)
            # ... and the role's trust policy names the caller, as the identity it was bound
            # to. A role that does not exist is refused in the same words, so that names in
            # other accounts cannot be probed.
            caller = trust.Caller(
                principal.account_id,
                user_id=principal.user_id if session is None else None,
                role_id=session.role_id if session is not None else None,
            )
            if role is None or not trust.parse(role.trust_policy).trusts(
                caller, external_id, role.trust_bindings
            ):
                raise PermissionDenied(
                    "You are not authorized to do this action. You should be authorized by RAM.",
                    action="sts:AssumeRole",
                    reason="the role does not exist or its trust policy does not name the caller",
                )
        ceiling = role.max_session_duration if longest is None else longest
        if not DURATION[0] <= seconds <= ceiling:
            chained = " for a session assumed with temporary credentials" if longest else ""
            raise InvalidValue(
                "DurationSeconds",
                f"The duration must be {DURATION[0]} to {ceiling} seconds{chained}.",
            )
        now = self.clock.now()
        minted = mint(
            self.box,
            role.account_id,
            RoleSession(
                role_id=role.role_id,
                role_name=role.name,
                name=session_name,
                expires_at=_expiry(now + timedelta(seconds=seconds), session),
                policy=session_policy,
                source_account_id=principal.account_id,
                source_name=(principal.user_name or "") if session is None else session.role_name,
                source_kind="user" if session is None else "assumed-role",
                source_access_key_id=principal.access_key_id or "",
            ),
        )
        audit.annotate(
            AccessKeyId=minted.access_key_id,
            AssumedRoleId=minted.session.principal_id,
            Expiration=format_date(minted.session.expires_at),
        )
        # Which master key the token needs, until when: `keyhouse master-key retire` counts
        # these (with the request's event and nonce, in one transaction).
        with self.store.transaction(write=True) as tx:
            tx.record_sts_session(minted.access_key_id, minted.key_id, minted.session.expires_at)
        return minted


def _expiry(asked: datetime, caller: RoleSession | None) -> datetime:
    """When the new session ends: when asked, but never after the session that assumed it."""
    ends = asked.replace(microsecond=0)
    return ends if caller is None else min(ends, caller.expires_at)
