"""Virtual MFA devices in one open transaction (mixed into keyhouse.store.sql.Tx)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from keyhouse.crypto import Sealed
from keyhouse.domain.errors import AlreadyExists
from keyhouse.domain.model import MFADevice
from keyhouse.store.schema import mfa_devices as devices
from keyhouse.store.schema import users


def _device(row: Any) -> MFADevice:
    return MFADevice(
        serial_number=row.serial_number,
        account_id=row.account_id,
        name=row.name,
        holder=row.holder,
        created_at=row.created_at,
        activated_at=row.activated_at,
        last_step=int(row.last_step),
    )


class MFATx:
    _c: Connection

    def get_mfa_device(self, serial_number: str, *, lock: bool = False) -> MFADevice | None:
        q = select(devices).where(devices.c.serial_number == serial_number)
        if lock:
            q = q.with_for_update()
        row = self._c.execute(q).first()
        return _device(row) if row else None

    def mfa_device_of(self, account_id: str, holder: str) -> MFADevice | None:
        """The device bound to ``holder`` (a user ID, or "owner"), or None."""
        q = select(devices).where(devices.c.account_id == account_id, devices.c.holder == holder)
        row = self._c.execute(q).first()
        return _device(row) if row else None

    def mfa_holders(self, account_id: str) -> set[str]:
        """Who in the account holds a bound device (user IDs, and "owner")."""
        q = select(devices.c.holder).where(
            devices.c.account_id == account_id, devices.c.holder.is_not(None)
        )
        return {r[0] for r in self._c.execute(q)}

    def count_mfa_devices(self, account_id: str) -> int:
        q = select(func.count()).select_from(devices).where(devices.c.account_id == account_id)
        return int(self._c.scalar(q) or 0)

    def list_mfa_devices(
        self, account_id: str, after: str | None, limit: int
    ) -> list[tuple[MFADevice, Any]]:
        """Up to ``limit`` devices by serial number after ``after``, each with its holder's
        user row (None for the owner or an unbound device)."""
        q = (
            select(devices, users.c.name.label("user_name"), users.c.display_name)
            .outerjoin(users, users.c.user_id == devices.c.holder)
            .where(devices.c.account_id == account_id)
            .order_by(devices.c.serial_number)
            .limit(limit)
        )
        if after is not None:
            q = q.where(devices.c.serial_number > after)
        return [(_device(r), r) for r in self._c.execute(q)]

    def insert_mfa_device(self, device: MFADevice, sealed: Sealed) -> None:
        try:
            with self._c.begin_nested():
                self._c.execute(
                    insert(devices).values(
                        serial_number=device.serial_number,
                        account_id=device.account_id,
                        name=device.name,
                        holder=device.holder,
                        secret_key_id=sealed.key_id,
                        secret_sealed=sealed.blob,
                        created_at=device.created_at,
                        activated_at=device.activated_at,
                        last_step=device.last_step,
                    )
                )
        except IntegrityError as exc:
            raise AlreadyExists(
                "virtual_mfa_device", "The virtual mfa device does already EXIST."
            ) from exc

    def mfa_seed(self, serial_number: str) -> Sealed | None:
        q = select(devices.c.secret_key_id, devices.c.secret_sealed).where(
            devices.c.serial_number == serial_number
        )
        row = self._c.execute(q).first()
        return Sealed(row[0], bytes(row[1])) if row else None

    def bind_mfa_device(
        self, serial_number: str, holder: str | None, at: datetime | None, step: int
    ) -> None:
        """Bind the device to ``holder`` (None: unbind) as of ``at``, ``step`` accepted."""
        self._c.execute(
            update(devices)
            .where(devices.c.serial_number == serial_number)
            .values(holder=holder, activated_at=at, last_step=step)
        )

    def claim_mfa_step(self, serial_number: str, step: int) -> bool:
        """Record ``step`` as used; False when it (or a later one) was used already, also by a
        concurrent sign-in: the update holds only while the stored step is earlier."""
        done = self._c.execute(
            update(devices)
            .where(devices.c.serial_number == serial_number, devices.c.last_step < step)
            .values(last_step=step)
        )
        return bool(done.rowcount)

    def delete_mfa_device(self, serial_number: str) -> None:
        self._c.execute(delete(devices).where(devices.c.serial_number == serial_number))
