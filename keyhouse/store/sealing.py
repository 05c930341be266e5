"""Sealed secrets by master key id, for rotating the master key (mixed into
keyhouse.store.sql.Tx): AccessKey secrets, and the new pairs a console page is about to show
once."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import Table, func, select, update
from sqlalchemy.engine import Connection

from keyhouse.crypto import Sealed
from keyhouse.store.schema import access_keys, console_flashes

# (table, the column naming a row) of every table holding sealed secrets.
_SEALED: dict[str, tuple[Table, str]] = {
    "access_keys": (access_keys, "access_key_id"),
    "console_flashes": (console_flashes, "token_hash"),
}


class SealingTx:
    _c: Connection

    def sealed_counts(self) -> dict[str, int]:
        """How many stored secrets each master key id seals."""
        counts: Counter[str] = Counter()
        for table, _ in _SEALED.values():
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
        AccessKey ID the secret is bound to, sealed secret)."""
        found: list[tuple[str, str, str, Sealed]] = []
        for name, (table, row) in _SEALED.items():
            q = (
                select(
                    table.c[row],
                    table.c.access_key_id,
                    table.c.secret_key_id,
                    table.c.secret_sealed,
                )
                .where(table.c.secret_key_id.is_not(None), table.c.secret_key_id != key_id)
                .order_by(table.c[row])
                .limit(limit - len(found))
            )
            for r in self._c.execute(q):
                found.append((name, r[0], r[1], Sealed(r[2], bytes(r[3]))))
            if len(found) >= limit:
                break
        return found

    def reseal(self, table_name: str, row: str, was: str, sealed: Sealed) -> bool:
        """Store ``sealed`` for the row still sealed under ``was`` (False: gone, or done)."""
        table, column = _SEALED[table_name]
        done = self._c.execute(
            update(table)
            .where(table.c[column] == row, table.c.secret_key_id == was)
            .values(secret_key_id=sealed.key_id, secret_sealed=sealed.blob)
        )
        return bool(done.rowcount)
