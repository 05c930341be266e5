"""Accounts: creation with a root pair, deletion mode, the default domain, who-am-I."""

from __future__ import annotations

import dataclasses

from keyhouse import ids
from keyhouse.domain import netpolicy, rules
from keyhouse.domain.actions import Action
from keyhouse.domain.errors import AlreadyExists, NotFound
from keyhouse.domain.model import AccessKey, Account, KeyDeletion, KeyStatus, NewSecret, Principal
from keyhouse.services.base import UseCases
from keyhouse.services.trail.draft import concerns


class Accounts(UseCases):
    def create(self, name: str) -> tuple[Account, NewSecret]:
        """A new account and its root AccessKey pair (operator only: CLI and first start)."""
        rules.validate_account_name(name)
        now = self.clock.now()
        with self.store.transaction(write=True) as tx:
            if tx.get_account_by_name(name) is not None:
                raise AlreadyExists("account", f"An account named {name} already exists.")
            domain = rules.default_domain_for(name)
            holder = tx.get_account_by_domain(domain)
            if holder is not None:
                raise AlreadyExists(
                    "account",
                    f"The name {name} cannot be used: its default domain {domain} was taken "
                    f"by the account {holder.name} (SetDefaultDomain) before this account "
                    "existed. Choose another name, or have that account change its domain.",
                )
            account = Account(
                account_id=ids.account_id(),
                name=name,
                default_domain=rules.default_domain_for(name),
                key_deletion=KeyDeletion.RECYCLE_BIN,
                created_at=now,
            )
            tx.insert_account(account)
            concerns(account.account_id)  # the operator's event goes to the new account's trail
            key = AccessKey(
                access_key_id=ids.access_key_id(),
                account_id=account.account_id,
                user_id=None,
                status=KeyStatus.ACTIVE,
                created_at=now,
                updated_at=now,
            )
            secret = ids.access_key_secret()
            tx.insert_key(key, self.box.seal(key.access_key_id, secret))
            return account, NewSecret(key, secret)

    def is_empty(self) -> bool:
        with self.store.transaction() as tx:
            return tx.count_accounts() == 0

    def all(self) -> list[Account]:
        with self.store.transaction() as tx:
            return tx.list_accounts()

    def named(self, name: str) -> Account:
        """The account with this name (operator only: the CLI names accounts)."""
        with self.store.transaction() as tx:
            account = tx.get_account_by_name(name)
        if account is None:
            raise NotFound("account", f"There is no account named {name}.")
        return account

    def set_key_deletion_mode(self, principal: Principal, mode: KeyDeletion) -> Account:
        """The account's own choice (console settings), authorized like its security
        preference, which it belongs with."""
        with self.store.transaction(write=True) as tx:
            account = self._account(tx, principal, Action.SetSecurityPreference, lock=True)
            account = dataclasses.replace(account, key_deletion=mode)
            tx.update_account(account)
            return account

    def default_domain(self, principal: Principal) -> str:
        with self.store.transaction() as tx:
            return self._account(tx, principal, Action.GetDefaultDomain).default_domain

    def set_default_domain(self, principal: Principal, domain: str) -> str:
        rules.validate_default_domain(domain)
        with self.store.transaction(write=True) as tx:
            account = self._account(tx, principal, Action.SetDefaultDomain, lock=True)
            named = tx.get_account_by_name(domain.removesuffix(rules.DOMAIN_SUFFIX))
            if named is not None and named.account_id != account.account_id:
                # <AccountName>.onaliyun.com belongs to the account of that name.
                raise AlreadyExists(
                    "domain", f"{domain} is reserved for the account named {named.name}."
                )
            tx.update_account(dataclasses.replace(account, default_domain=domain))
            return domain

    def security_preference(self, principal: Principal) -> Account:
        with self.store.transaction() as tx:
            return self._account(tx, principal, Action.GetSecurityPreference)

    def set_security_preference(
        self,
        principal: Principal,
        allow_user_manage_keys: bool | None,
        *,
        allow_user_manage_mfa: bool | None = None,
        mfa_for_login: str | None = None,
    ) -> Account:
        """What is given changes; what is None stays."""
        changes: dict[str, object] = {
            name: value
            for name, value in (
                ("allow_user_manage_keys", allow_user_manage_keys),
                ("allow_user_manage_mfa", allow_user_manage_mfa),
                ("mfa_for_login", mfa_for_login),
            )
            if value is not None
        }
        with self.store.transaction(write=True) as tx:
            account = self._account(tx, principal, Action.SetSecurityPreference, lock=True)
            if changes:
                account = dataclasses.replace(account, **changes)  # type: ignore[arg-type]
                tx.update_account(account)
            return account

    def network_policy(self, principal: Principal) -> str:
        """The account's network access policy as set (the documented "none" if never set)."""
        with self.store.transaction() as tx:
            account = self._account(tx, principal, Action.GetAccessKeyPolicyForAccount)
            return tx.account_network_policy(account.account_id) or netpolicy.NONE

    def set_network_policy(self, principal: Principal, document: str) -> str:
        netpolicy.parse(document)
        with self.store.transaction(write=True) as tx:
            account = self._account(tx, principal, Action.SetAccessKeyPolicyForAccount, lock=True)
            tx.set_account_network_policy(account.account_id, document)
            return document

    def caller(self, principal: Principal) -> Principal:
        """Who the caller is (every authenticated principal may ask)."""
        self.authorizer.require(principal, Action.GetCallerIdentity, principal.account_id)
        return principal
