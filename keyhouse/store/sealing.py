"""Sealed secrets by master key id, for rotating the master key (mixed into
keyhouse.store.sql.Tx): AccessKey secrets, the new pairs a console page is about to show once,
MFA seeds, and the store's own keys (the audit chain's); and the temporary credentials each
master key's tokens still let in."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from sqlalchemy import Table, delete, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from keyhouse.crypto import Sealed
from keyhouse.store.schema import (
    access_keys,
    console_flashes,
    mfa_devices,
    store_keys,
    sts_sessions,
)

# (table, the column naming a row, the column the secret is bound to, and the prefix of what it
# is bound to) of every table holding sealed secrets.
_SEALED: dict[str, tuple[Table, str, str, str]] = {
    "access_keys": (access_keys, "access_key_id", "access_key_id", ""),
    "console_flashes": (console_flashes, "token_hash", "access_key_id", ""),
    "store_keys": (store_keys, "name", "name", "store-key:"),
    "mfa_devices": (mfa_devices, "serial_number", "serial_number", "mfa:"),
}
# The store key that keys the audit trail's hash chain (keyhouse.domain.audit.ChainKey).
CHAIN_KEY = "audit-chain"


def mfa_seed_binding(serial_number: str) -> str:
    """What an MFA device's seed is sealed bound to."""
    return _SEALED["mfa_devices"][3] + serial_number


def store_key_binding(name: str) -> str:
    """What a store key is sealed bound to (its authenticated data)."""
    return _SEALED["store_keys"][3] + name


class SealingTx:
    _c: Connection

    def sealed_counts(self) -> dict[str, int]:
        """How many stored secrets each master key id seals."""
        counts: Counter[str] = Counter()
        for table, *_ in _SEALED.values():
            q = (
                select(table.c.secret_key_id, func.count())
                .where(table.c.secret_key_id.is_not(None))
                .group_by(table.c.secret_key_id)
            )
            for key_id, count in self._c.execute(q):
                counts[key_id] += count
        return dict(counts)

    def sealed_other_than(self, key_id: str, limit: int) -> list[tuple[str, str, str, Sealed]]:
        """Up to ``limit`` secrets sealed under another key than ``key_id``: (table, row,
        what the secret is bound to, sealed secret)."""
        found: list[tuple[str, str, str, Sealed]] = []
        for name, (table, row, bound, prefix) in _SEALED.items():
            q = (
                select(
                    table.c[row],
                    table.c[bound],
                    table.c.secret_key_id,
                    table.c.secret_sealed,
                )
                .where(table.c.secret_key_id.is_not(None), table.c.secret_key_id != key_id)
                .order_by(table.c[row])
                .limit(limit - len(found))
            )
            for r in self._c.execute(q):
                found.append((name, r[0], prefix + r[1], Sealed(r[2], bytes(r[3]))))
            if len(found) >= limit:
                break
        return found

    def reseal(self, table_name: str, row: str, was: str, sealed: Sealed) -> bool:
        """Store ``sealed`` for the row still sealed under ``was`` (False: gone, or done)."""
        table, column, *_ = _SEALED[table_name]
        done = self._c.execute(
            update(table)
            .where(table.c[column] == row, table.c.secret_key_id == was)
            .values(secret_key_id=sealed.key_id, secret_sealed=sealed.blob)
        )
        return bool(done.rowcount)

    # -- the store's own keys ---------------------------------------------------------------
    def get_store_key(self, name: str) -> Sealed | None:
        row = self._c.execute(select(store_keys).where(store_keys.c.name == name)).first()
        return Sealed(row.secret_key_id, bytes(row.secret_sealed)) if row else None

    def insert_store_key(self, name: str, sealed: Sealed) -> bool:
        """False when another process stored one under this name first."""
        try:
            with self._c.begin_nested():
                self._c.execute(
                    insert(store_keys).values(
                        name=name, secret_key_id=sealed.key_id, secret_sealed=sealed.blob
                    )
                )
        except IntegrityError:
            return False
        return True

    # -- temporary credentials by sealing key -----------------------------------------------
    def record_sts_session(self, access_key_id: str, key_id: str, expires_at: datetime) -> None:
        self._c.execute(
            insert(sts_sessions).values(
                access_key_id=access_key_id, key_id=key_id, expires_at=expires_at
            )
        )

    def live_sts_sessions(self, now: datetime) -> dict[str, tuple[int, datetime]]:
        """Per master key id: how many temporary credentials it sealed are not expired at
        ``now``, and when the last of them expires."""
        q = (
            select(sts_sessions.c.key_id, func.count(), func.max(sts_sessions.c.expires_at))
            .where(sts_sessions.c.expires_at > now)
            .group_by(sts_sessions.c.key_id)
        )
        return {key_id: (int(count), last) for key_id, count, last in self._c.execute(q)}

    def purge_expired_sts_sessions(self, now: datetime) -> int:
        done = self._c.execute(delete(sts_sessions).where(sts_sessions.c.expires_at <= now))
        return int(done.rowcount or 0)
