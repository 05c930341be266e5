"""Protected services: the account's own APIs, put behind a gateway that asks Keyhouse
(keyhouse.services.gateway). Creating, reading, changing and deleting their definitions are
Keyhouse actions (``keyhouse:CreateService`` ... on ``acs:keyhouse:*:<account>:service/<name>``),
authorized and audited like every other."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from keyhouse.clock import format_date
from keyhouse.domain import gateway, jsondoc, rules
from keyhouse.domain.actions import Action
from keyhouse.domain.arn import service_resource
from keyhouse.domain.errors import InvalidValue, LimitExceeded, NotFound
from keyhouse.domain.gateway import ServiceDefinition
from keyhouse.domain.model import Account, Principal
from keyhouse.services.base import UseCases
from keyhouse.store.sql import Tx


@dataclass(frozen=True, slots=True)
class ServiceRecord:
    service: ServiceDefinition
    created_at: datetime
    updated_at: datetime

    def fields(self) -> dict[str, Any]:
        """The service as the API and the CLI show it (the API wraps the two lists)."""
        document = json.loads(self.service.document())
        return {
            "ServiceName": self.service.name,
            "Description": self.service.description,
            "Routes": document["Routes"],
            "Actions": document["Actions"],
            "CreateDate": format_date(self.created_at),
            "UpdateDate": format_date(self.updated_at),
        }


def _json(text: str | None, parameter: str) -> Any:
    if text is None:
        return None
    try:
        return jsondoc.load(text)
    except jsondoc.DocumentError as exc:
        raise InvalidValue(parameter, f"{parameter} is not a JSON document: {exc}") from None


class ProtectedServices(UseCases):
    def create(
        self,
        principal: Principal,
        name: str,
        routes: str,
        actions: str | None = None,
        description: str = "",
    ) -> ServiceRecord:
        gateway.validate_service_name(name)
        rules.validate_description(description)
        now = self.clock.now()
        with self.store.transaction(write=True) as tx:
            account = self._account(tx, principal, lock=True)
            self._authorize_service(tx, principal, account, Action.CreateService, name)
            service = gateway.parse_definition(
                account.account_id,
                name,
                description,
                _json(routes, "Routes"),
                _json(actions, "Actions"),
            )
            if tx.count_services(account.account_id) >= gateway.SERVICE_LIMIT:
                raise LimitExceeded(
                    "service", f"An account protects at most {gateway.SERVICE_LIMIT} services."
                )
            tx.insert_service(service, now)
            return ServiceRecord(service, now, now)

    def get(self, principal: Principal, name: str) -> ServiceRecord:
        with self.store.transaction() as tx:
            account = self._account(tx, principal)
            return self._named(tx, principal, account, Action.GetService, name)

    def list(self, principal: Principal) -> list[ServiceRecord]:
        with self.store.transaction() as tx:
            account = self._account(tx, principal, Action.ListServices)
            return [ServiceRecord(*found) for found in tx.list_services(account.account_id)]

    def update(
        self,
        principal: Principal,
        name: str,
        routes: str | None = None,
        actions: str | None = None,
        description: str | None = None,
    ) -> ServiceRecord:
        if description is not None:
            rules.validate_description(description)
        now = self.clock.now()
        with self.store.transaction(write=True) as tx:
            account = self._account(tx, principal, lock=True)
            found = self._named(tx, principal, account, Action.UpdateService, name, lock=True)
            old = found.service
            service = gateway.parse_definition(
                account.account_id,
                name,
                old.description if description is None else description,
                [r.document() for r in old.routes] if routes is None else _json(routes, "Routes"),
                list(old.actions) if actions is None else _json(actions, "Actions"),
            )
            tx.update_service(service, now)
            return ServiceRecord(service, found.created_at, now)

    def delete(self, principal: Principal, name: str) -> None:
        with self.store.transaction(write=True) as tx:
            account = self._account(tx, principal, lock=True)
            self._named(tx, principal, account, Action.DeleteService, name, lock=True)
            tx.delete_service(account.account_id, name)

    def _authorize_service(
        self, tx: Tx, principal: Principal, account: Account, action: Action, name: str
    ) -> None:
        self._authorize(tx, principal, account, action, service_resource(account.account_id, name))

    def _named(
        self,
        tx: Tx,
        principal: Principal,
        account: Account,
        action: Action,
        name: str,
        *,
        lock: bool = False,
    ) -> ServiceRecord:
        """The account's service ``name``, once the caller may perform ``action`` on it
        (checked first: a caller without it learns nothing about which services exist)."""
        gateway.validate_service_name(name)
        self._authorize_service(tx, principal, account, action, name)
        service = tx.get_service(account.account_id, name, lock=lock)
        dates = tx.service_dates(account.account_id, name) if service is not None else None
        if service is None or dates is None:
            raise NotFound("service", f"The service does not exist: {name}.")
        return ServiceRecord(service, *dates)
