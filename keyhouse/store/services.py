"""Protected services (keyhouse.domain.gateway) in one open transaction (mixed into
keyhouse.store.sql.Tx)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from keyhouse.domain.errors import AlreadyExists
from keyhouse.domain.gateway import ServiceDefinition, definition_from
from keyhouse.store.schema import protected_services as services


def _service(row: Any) -> ServiceDefinition:
    return definition_from(row.account_id, row.name, row.description, row.document)


class ServicesTx:
    _c: Connection

    def get_service(
        self, account_id: str, name: str, *, lock: bool = False
    ) -> ServiceDefinition | None:
        q = select(services).where(services.c.account_id == account_id, services.c.name == name)
        if lock:
            q = q.with_for_update()
        row = self._c.execute(q).first()
        return _service(row) if row is not None else None

    def list_services(self, account_id: str) -> list[tuple[ServiceDefinition, datetime, datetime]]:
        """Every service of the account by name, with when it was created and last changed."""
        rows = self._c.execute(
            select(services).where(services.c.account_id == account_id).order_by(services.c.name)
        )
        return [(_service(r), r.created_at, r.updated_at) for r in rows]

    def service_dates(self, account_id: str, name: str) -> tuple[datetime, datetime] | None:
        row = self._c.execute(
            select(services.c.created_at, services.c.updated_at).where(
                services.c.account_id == account_id, services.c.name == name
            )
        ).first()
        return (row.created_at, row.updated_at) if row is not None else None

    def count_services(self, account_id: str) -> int:
        return int(
            self._c.scalar(
                select(func.count())
                .select_from(services)
                .where(services.c.account_id == account_id)
            )
            or 0
        )

    def insert_service(self, service: ServiceDefinition, now: datetime) -> None:
        try:
            with self._c.begin_nested():
                self._c.execute(
                    insert(services).values(
                        account_id=service.account_id,
                        name=service.name,
                        description=service.description,
                        document=service.document(),
                        created_at=now,
                        updated_at=now,
                    )
                )
        except IntegrityError:
            raise AlreadyExists("service", f"The service already exists: {service.name}.") from None

    def update_service(self, service: ServiceDefinition, now: datetime) -> None:
        self._c.execute(
            update(services)
            .where(services.c.account_id == service.account_id, services.c.name == service.name)
            .values(description=service.description, document=service.document(), updated_at=now)
        )

    def delete_service(self, account_id: str, name: str) -> None:
        self._c.execute(
            delete(services).where(services.c.account_id == account_id, services.c.name == name)
        )
