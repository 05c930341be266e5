"""Permission policies: custom policies and their versions, system policies, and where each is
attached (attaching and detaching: keyhouse.services.attachments)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime

from keyhouse.domain import policy, rules
from keyhouse.domain.actions import Action
from keyhouse.domain.arn import policy_resource
from keyhouse.domain.errors import AlreadyExists, Conflict, InvalidValue, LimitExceeded, NotFound
from keyhouse.domain.model import (
    Account,
    Attachment,
    CustomPolicy,
    Group,
    PolicyVersion,
    Principal,
    Role,
    User,
)
from keyhouse.services.base import UseCases
from keyhouse.store.sql import Tx


@dataclass(frozen=True, slots=True)
class PolicyView:
    """A policy as the API shows it, system or custom."""

    name: str
    type: str  # "System" | "Custom"
    description: str
    default_version: str
    created_at: datetime | None
    updated_at: datetime | None
    attachment_count: int = 0
    document: str = ""


@dataclass(frozen=True, slots=True)
class Attached:
    view: PolicyView
    attached_at: datetime


@dataclass(frozen=True, slots=True)
class Entities:
    users: list[tuple[User, datetime]]
    groups: list[tuple[Group, datetime]]
    roles: list[tuple[Role, datetime]]


def policy_not_found(name: str) -> NotFound:
    return NotFound("policy", f"The policy does not exist: {name}.")


def _system_view(name: str) -> PolicyView:
    description, document = policy.SYSTEM_POLICIES[name]
    return PolicyView(name, "System", description, "v1", None, None, 0, document)


def custom_policy(tx: Tx, account: Account, name: str, *, lock: bool = False) -> CustomPolicy:
    found = tx.get_policy(account.account_id, name, lock=lock)
    if found is None:
        raise policy_not_found(name)
    return found


def attachable(tx: Tx, account: Account, policy_type: str, name: str) -> None:
    """Refuse a policy that cannot be attached: a bad type or name, or one that does not
    exist."""
    rules.validate_policy_type(policy_type)
    rules.validate_policy_name(name)
    if policy_type == "System":
        if name not in policy.SYSTEM_POLICIES:
            raise policy_not_found(name)
    else:
        custom_policy(tx, account, name)


def view_of(tx: Tx, account: Account, attachment: Attachment) -> PolicyView:
    """The policy an attachment names, as a list of attached policies shows it."""
    if attachment.policy_type == "System":
        return _system_view(attachment.policy_name)
    return custom_view(custom_policy(tx, account, attachment.policy_name))


def custom_view(custom: CustomPolicy, count: int = 0, document: str = "") -> PolicyView:
    return PolicyView(
        custom.name,
        "Custom",
        custom.description,
        custom.default_version,
        custom.created_at,
        custom.updated_at,
        count,
        document,
    )


def check_policy(
    uc: UseCases,
    tx: Tx,
    principal: Principal,
    account: Account,
    action: Action,
    name: str,
    policy_type: str = "Custom",
) -> None:
    """Permission for ``action`` on the policy itself (attaching names two resources: the
    target and the policy; both must be allowed)."""
    uc._authorize(
        tx, principal, account, action, policy_resource(account.account_id, name, policy_type)
    )


class Policies(UseCases):
    # -- lookups ----------------------------------------------------------------------------
    def _view(self, tx: Tx, account: Account, policy_type: str, name: str) -> PolicyView:
        rules.validate_policy_type(policy_type)
        if policy_type == "System":
            if name not in policy.SYSTEM_POLICIES:
                raise policy_not_found(name)
            view = _system_view(name)
            count = tx.attachment_count(account.account_id, "System", name)
            return dataclasses.replace(view, attachment_count=count)
        custom = custom_policy(tx, account, name)
        versions = {v.version_id: v for v in tx.list_versions(custom)}
        count = tx.attachment_count(account.account_id, "Custom", name)
        return custom_view(custom, count, versions[custom.default_version].document)

    # -- custom policies --------------------------------------------------------------------
    def create(
        self, principal: Principal, name: str, document: str, description: str = ""
    ) -> PolicyView:
        rules.validate_policy_name(name)
        rules.validate_description(description)
        policy.parse(document)
        now = self.clock.now()
        with self.store.transaction(write=True) as tx:
            account = self._account(tx, principal, lock=True)
            check_policy(self, tx, principal, account, Action.CreatePolicy, name)
            if name in policy.SYSTEM_POLICIES:
                raise AlreadyExists("policy", f"A system policy has this name: {name}.")
            if tx.count_policies(account.account_id) >= rules.CUSTOM_POLICY_LIMIT:
                raise LimitExceeded(
                    "policy", f"An account holds at most {rules.CUSTOM_POLICY_LIMIT} policies."
                )
            created = CustomPolicy(account.account_id, name, description, "v1", 2, now, now)
            tx.insert_policy(created, document)
            return PolicyView(name, "Custom", description, "v1", now, now, 0, document)

    def get(self, principal: Principal, policy_type: str, name: str) -> PolicyView:
        with self.store.transaction() as tx:
            account = self._account(tx, principal)
            check_policy(self, tx, principal, account, Action.GetPolicy, name, policy_type)
            return self._view(tx, account, policy_type, name)

    def page(
        self, principal: Principal, policy_type: str | None, marker: str | None, max_items: int
    ) -> tuple[list[PolicyView], str]:
        """System policies first (by name), then custom ones; the marker is the last name."""
        if policy_type is not None:
            rules.validate_policy_type(policy_type)
        after_type, _, after_name = (marker or "").partition(":")
        if marker and after_type not in {"System", "Custom"}:
            raise InvalidValue("Marker", "The marker is not one this service returned.")
        with self.store.transaction() as tx:
            account = self._account(tx, principal, Action.ListPolicies)
            views: list[PolicyView] = []
            if policy_type in (None, "System") and after_type != "Custom":
                for name in sorted(policy.SYSTEM_POLICIES):
                    if not marker or name > after_name:
                        count = tx.attachment_count(account.account_id, "System", name)
                        views.append(
                            dataclasses.replace(_system_view(name), attachment_count=count)
                        )
            if policy_type in (None, "Custom"):
                since = after_name if after_type == "Custom" else None
                for custom in tx.list_policies(account.account_id, since, max_items + 1):
                    count = tx.attachment_count(account.account_id, "Custom", custom.name)
                    views.append(custom_view(custom, count))
        page = views[:max_items]
        more = len(views) > max_items
        last = page[-1] if page else None
        return page, (f"{last.type}:{last.name}" if more and last else "")

    def delete(self, principal: Principal, name: str, *, cascade: bool = False) -> None:
        with self.store.transaction(write=True) as tx:
            account = self._account(tx, principal)
            check_policy(self, tx, principal, account, Action.DeletePolicy, name)
            custom_policy(tx, account, name, lock=True)
            if tx.attachment_count(account.account_id, "Custom", name):
                if not cascade:
                    users, _ = tx.entities_of(account.account_id, "Custom", name)
                    what = "policy.user" if users else "policy.group"
                    raise Conflict(
                        what,
                        "The policy is attached to users or groups; detach it first "
                        "(or delete with CascadingDelete=true).",
                    )
                tx.detach_everywhere(account.account_id, "Custom", name)
                tx.bump_grants(account.account_id)
            tx.delete_policy(account.account_id, name)

    # -- versions ---------------------------------------------------------------------------
    def create_version(
        self,
        principal: Principal,
        name: str,
        document: str,
        *,
        set_default: bool = False,
        rotate: bool = False,
    ) -> PolicyVersion:
        policy.parse(document)
        now = self.clock.now()
        with self.store.transaction(write=True) as tx:
            account = self._account(tx, principal)
            check_policy(self, tx, principal, account, Action.CreatePolicyVersion, name)
            custom = custom_policy(tx, account, name, lock=True)
            versions = tx.list_versions(custom)
            if len(versions) >= rules.POLICY_VERSION_LIMIT:
                if not rotate:
                    raise LimitExceeded(
                        "policy.version",
                        f"A policy keeps at most {rules.POLICY_VERSION_LIMIT} versions; "
                        "delete one, or use RotateStrategy="
                        "DeleteOldestNonDefaultVersionWhenLimitExceeded.",
                    )
                oldest = next(v for v in versions if not v.is_default)
                tx.delete_version(custom, oldest.version_id)
            version_id = f"v{custom.next_version}"
            tx.insert_version(account.account_id, name, version_id, document, now)
            tx.update_policy(
                dataclasses.replace(
                    custom,
                    next_version=custom.next_version + 1,
                    default_version=version_id if set_default else custom.default_version,
                    updated_at=now,
                )
            )
            if set_default:
                tx.bump_grants(account.account_id)
            return PolicyVersion(version_id, document, now, set_default)

    def _version(self, tx: Tx, custom: CustomPolicy, version_id: str) -> PolicyVersion:
        rules.validate_version_id(version_id)
        for version in tx.list_versions(custom):
            if version.version_id == version_id:
                return version
        raise NotFound("policy.version", f"The policy version does not exist: {version_id}.")

    def get_version(
        self, principal: Principal, policy_type: str, name: str, version_id: str
    ) -> PolicyVersion:
        with self.store.transaction() as tx:
            account = self._account(tx, principal)
            check_policy(self, tx, principal, account, Action.GetPolicyVersion, name, policy_type)
            rules.validate_policy_type(policy_type)
            if policy_type == "System":
                view = self._view(tx, account, "System", name)
                if version_id != "v1":
                    raise NotFound(
                        "policy.version", f"The policy version does not exist: {version_id}."
                    )
                return PolicyVersion("v1", view.document, datetime.min, True)
            return self._version(tx, custom_policy(tx, account, name), version_id)

    def list_versions(
        self, principal: Principal, policy_type: str, name: str
    ) -> list[PolicyVersion]:
        with self.store.transaction() as tx:
            account = self._account(tx, principal)
            check_policy(self, tx, principal, account, Action.ListPolicyVersions, name, policy_type)
            rules.validate_policy_type(policy_type)
            if policy_type == "System":
                view = self._view(tx, account, "System", name)
                return [PolicyVersion("v1", view.document, datetime.min, True)]
            return tx.list_versions(custom_policy(tx, account, name))

    def set_default_version(self, principal: Principal, name: str, version_id: str) -> None:
        now = self.clock.now()
        with self.store.transaction(write=True) as tx:
            account = self._account(tx, principal)
            check_policy(self, tx, principal, account, Action.SetDefaultPolicyVersion, name)
            custom = custom_policy(tx, account, name, lock=True)
            self._version(tx, custom, version_id)
            tx.update_policy(
                dataclasses.replace(custom, default_version=version_id, updated_at=now)
            )
            tx.bump_grants(account.account_id)

    def delete_version(self, principal: Principal, name: str, version_id: str) -> None:
        with self.store.transaction(write=True) as tx:
            account = self._account(tx, principal)
            check_policy(self, tx, principal, account, Action.DeletePolicyVersion, name)
            custom = custom_policy(tx, account, name, lock=True)
            version = self._version(tx, custom, version_id)
            if version.is_default:
                raise Conflict(
                    "policy.version.default",
                    "The default version cannot be deleted; make another one the default first.",
                )
            tx.delete_version(custom, version_id)

    def entities(self, principal: Principal, policy_type: str, name: str) -> Entities:
        with self.store.transaction() as tx:
            account = self._account(tx, principal)
            check_policy(
                self, tx, principal, account, Action.ListEntitiesForPolicy, name, policy_type
            )
            attachable(tx, account, policy_type, name)
            users, groups = tx.entities_of(account.account_id, policy_type, name)
            roles = tx.roles_of_policy(account.account_id, policy_type, name)
            return Entities(users, groups, roles)
