"""The retention sweep: purge binned keys and users whose DeleteDate has passed.

Idempotent and batched: each batch is its own short transaction, and a DELETE only removes
rows still past their DeleteDate. Instances sharing a store take turns through a lease: the
sweeper that holds it renews it after every batch, so a sweeper that dies loses it within one
lease period and the next instance to try finishes the work.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from keyhouse.clock import Clock, format_date
from keyhouse.services.trail.draft import system_row
from keyhouse.store.sql import Purged, SqlStore, Tx

LEASE = "retention-sweep"
log = logging.getLogger("keyhouse.sweep")


class Sweeper:
    def __init__(
        self,
        store: SqlStore,
        clock: Clock,
        *,
        holder: str,
        lease: timedelta = timedelta(seconds=60),
        audit_retention: timedelta = timedelta(days=400),
    ) -> None:
        self.store = store
        self.clock = clock
        self.holder = holder
        self.lease = lease
        self.audit_retention = audit_retention

    def _hold(self) -> bool:
        now = self.clock.now()
        with self.store.transaction(write=True) as tx:
            return tx.take_lease(LEASE, self.holder, now, now + self.lease)

    def sweep(self, as_of: datetime | None = None) -> list[Purged] | None:
        """Purge what expired by ``as_of`` (default now); None when another instance is sweeping."""
        if not self._hold():
            log.debug("another instance holds the sweep lease")
            return None
        when = as_of or self.clock.now()
        log.info("sweep started holder=%s as_of=%s", self.holder, format_date(when))
        purged: list[Purged] = []
        try:
            for step in (self._expired_users, Tx.purge_expired_keys):
                while True:
                    with self.store.transaction(write=True) as tx:
                        batch = step(tx, when)
                        # Events carry the real time, even for a sweep "as of" a later one.
                        _record(tx, batch, min(when, self.clock.now()))
                    purged.extend(batch)
                    if not batch:
                        break
                    if not self._hold():  # the lease expired under us: let its new holder go on
                        log.warning(
                            "sweep stopped holder=%s: lease lost after %d purged",
                            self.holder,
                            len(purged),
                        )
                        return purged
            self.purge_nonces()
            with self.store.transaction(write=True) as tx:
                pruned = tx.prune_events(when - self.audit_retention)
            if pruned:
                log.info("audit retention dropped %d events", pruned)
            # Said before the lease is given up, so that no other instance's "started" can
            # come before it in time.
            log.info("sweep finished holder=%s purged=%d", self.holder, len(purged))
        finally:
            with self.store.transaction(write=True) as tx:
                tx.release_lease(LEASE, self.holder)
        return purged

    def preview(self, as_of: datetime) -> list[Purged]:
        """What a sweep as of ``as_of`` would purge, purging nothing: the same steps run in
        one transaction that is rolled back."""
        found: list[Purged] = []
        try:
            with self.store.transaction(write=True) as tx:
                for step in (self._expired_users, Tx.purge_expired_keys):
                    while batch := step(tx, as_of):
                        found.extend(batch)
                raise _DryRun
        except _DryRun:
            pass
        return found

    @staticmethod
    def _expired_users(tx: Tx, when: datetime) -> list[Purged]:
        batch = []
        for user in tx.expired_users(when):
            keys = tx.purge_user(user.user_id)
            batch.append(
                Purged(
                    "user",
                    user.user_id,
                    user.account_id,
                    f"{user.name} (with {len(keys)} AccessKey pairs)",
                )
            )
        return batch

    def purge_nonces(self, now: datetime | None = None) -> int:
        """Forget spent nonces whose window has closed, and expired temporary credentials'
        records (what `master-key retire` counts)."""
        when = now or self.clock.now()
        with self.store.transaction(write=True) as tx:
            tx.purge_expired_sts_sessions(when)
            return tx.purge_expired_nonces(when)

    def sweep_waiting(
        self, as_of: datetime | None, patience: float, pause: Callable[[float], None]
    ) -> list[Purged] | None:
        """Sweep, waiting up to ``patience`` seconds for another instance's sweep to end."""
        waited = 0.0
        while True:
            result = self.sweep(as_of)
            if result is not None or waited >= patience:
                return result
            pause(0.5)
            waited += 0.5


class _DryRun(Exception):
    """Raised to roll a preview's transaction back."""


def _record(tx: Tx, batch: list[Purged], when: datetime) -> None:
    """A purge batch leaves one event per account and kind in the account's trail, in the
    purge's own transaction, naming every purged key or user, so that `keyhouse whois` can
    still say whose a purged key was. (One event per key made a 100k purge four times
    slower.)"""
    grouped: dict[tuple[str, str], list[str]] = {}
    for item in batch:
        grouped.setdefault((item.account_id, item.kind), []).append(item.ident)
    for (account_id, kind), idents in sorted(grouped.items()):
        if kind == "user":
            name, parameter = "PurgeUsersFromRecycleBin", "UserIds"
        else:
            name, parameter = "PurgeAccessKeysFromRecycleBin", "UserAccessKeyIds"
        row = system_row(account_id, name, when, {parameter: " ".join(idents)}, idents)
        tx.append_events(account_id, [row])
