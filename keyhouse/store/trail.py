"""Store methods for the audit trail and credential reports. Mixed into ``Tx``."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.engine import Connection

from keyhouse.domain.audit import ChainKey, Head, StoredEvent, legacy_chain_hash
from keyhouse.store.schema import audit_events, audit_heads, credential_reports

# Lookup attribute -> column (LookupEvents' LookupAttribute keys).
LOOKUP_COLUMNS = {
    "EventAccessKeyId": audit_events.c.access_key_id,
    "EventName": audit_events.c.event_name,
    "User": audit_events.c.user_name,
    "EventRW": audit_events.c.event_rw,
    "EventId": audit_events.c.event_id,
    "ServiceName": audit_events.c.service_name,
}


def _head(row: Any) -> Head:
    return Head(row.account_id, row.seq, row.hash, row.pruned_seq, row.pruned_hash)


class TrailTx:
    _c: Connection
    chain_key: ChainKey

    def audit_heads(self, account_ids: Sequence[str] | None = None) -> list[Head]:
        q = select(audit_heads).order_by(audit_heads.c.account_id)
        if account_ids is not None:
            q = q.where(audit_heads.c.account_id.in_(account_ids))
        return [_head(r) for r in self._c.execute(q)]

    def chain(self, account_id: str) -> Iterator[StoredEvent]:
        """One account's events in chain order, streamed."""
        q = (
            select(
                audit_events.c.account_id,
                audit_events.c.seq,
                audit_events.c.event_id,
                audit_events.c.event_name,
                audit_events.c.access_key_id,
                audit_events.c.body,
                audit_events.c.prev_hash,
                audit_events.c.hash,
            )
            .where(audit_events.c.account_id == account_id)
            .order_by(audit_events.c.seq)
        )
        for row in self._c.execution_options(yield_per=1000).execute(q):
            yield StoredEvent(*row)

    def rekey_chains(self, key: ChainKey, batch: int = 1000) -> tuple[int, list[str]]:
        """Re-hash every chain written before revision 0010 (plain SHA-256) under ``key``,
        each event once its old hash is checked. A chain already broken is re-keyed up to the
        break only, so that it stays broken where it was. Returns (events re-keyed, accounts
        whose chains were broken)."""
        total, broken = 0, []
        for head in self.audit_heads():
            self._c.execute(  # the head is held until commit
                select(audit_heads.c.seq)
                .where(audit_heads.c.account_id == head.account_id)
                .with_for_update()
            )
            old_prev = new_prev = head.pruned_hash
            seq, done, intact = head.pruned_seq, 0, True
            while intact:
                rows = self._c.execute(
                    select(
                        audit_events.c.seq,
                        audit_events.c.prev_hash,
                        audit_events.c.hash,
                        audit_events.c.body,
                    )
                    .where(audit_events.c.account_id == head.account_id, audit_events.c.seq > seq)
                    .order_by(audit_events.c.seq)
                    .limit(batch)
                ).all()
                if not rows:
                    break
                updates = []
                for row in rows:
                    expected = legacy_chain_hash(head.account_id, row.seq, old_prev, row.body)
                    if row.seq != seq + 1 or row.prev_hash != old_prev or row.hash != expected:
                        intact = False
                        break
                    digest = key.digest(head.account_id, row.seq, new_prev, row.body)
                    updates.append({"a": head.account_id, "s": row.seq, "p": new_prev, "h": digest})
                    old_prev, new_prev, seq = row.hash, digest, row.seq
                if updates:
                    self._c.execute(
                        update(audit_events)
                        .where(
                            audit_events.c.account_id == bindparam("a"),
                            audit_events.c.seq == bindparam("s"),
                        )
                        .values(prev_hash=bindparam("p"), hash=bindparam("h")),
                        updates,
                    )
                    done += len(updates)
            if intact and seq == head.seq and old_prev == head.hash:
                self._c.execute(
                    update(audit_heads)
                    .where(audit_heads.c.account_id == head.account_id)
                    .values(hash=new_prev)
                )
            else:
                broken.append(head.account_id)
            total += done
        return total, broken

    def lookup_events(
        self,
        account_id: str,
        start: datetime,
        end: datetime,
        filters: Mapping[str, str],
        resource: str | None,
        after: tuple[datetime, int] | None,
        forward: bool,
        limit: int,
        *,
        errors_only: bool = False,
    ) -> list[tuple[datetime, int, str]]:
        """(event time, seq, body) of matching events, oldest first when ``forward``;
        ``errors_only``: refusals and failures only."""
        t, s = audit_events.c.event_time, audit_events.c.seq
        q = select(t, s, audit_events.c.body).where(
            audit_events.c.account_id == account_id, t >= start, t <= end
        )
        for key, value in filters.items():
            q = q.where(LOOKUP_COLUMNS[key] == value)
        if errors_only:
            q = q.where(audit_events.c.error_code.is_not(None))
        if resource:
            q = q.where(audit_events.c.resources.contains(f" {resource} ", autoescape=True))
        if after is not None:
            at, seq = after
            if forward:
                q = q.where(or_(t > at, and_(t == at, s > seq)))
            else:
                q = q.where(or_(t < at, and_(t == at, s < seq)))
        q = q.order_by(t, s) if forward else q.order_by(t.desc(), s.desc())
        return [(r.event_time, r.seq, r.body) for r in self._c.execute(q.limit(limit))]

    def events_between(self, since: datetime, until: datetime | None) -> Iterator[str]:
        """Every account's event bodies in the window, by account then chain order."""
        q = select(audit_events.c.body).where(audit_events.c.event_time >= since)
        if until is not None:
            q = q.where(audit_events.c.event_time < until)
        q = q.order_by(audit_events.c.account_id, audit_events.c.seq)
        for row in self._c.execution_options(yield_per=1000).execute(q):
            yield row.body

    def events_of_key(
        self,
        access_key_id: str,
        *,
        since: datetime | None = None,
        errors: Sequence[str] | None = None,
        mentioned: bool = False,
        limit: int = 1000,
    ) -> list[tuple[str, str]]:
        """(account id, body) of events signed with the key (or, with ``mentioned``, also
        naming it as a resource), newest first; ``errors`` keeps only those refusals."""
        by_key = audit_events.c.access_key_id == access_key_id
        if mentioned:
            by_key = or_(
                by_key, audit_events.c.resources.contains(f" {access_key_id} ", autoescape=True)
            )
        q = select(audit_events.c.account_id, audit_events.c.body).where(by_key)
        if since is not None:
            q = q.where(audit_events.c.event_time >= since)
        if errors is not None:
            q = q.where(audit_events.c.error_code.in_(errors))
        q = q.order_by(audit_events.c.event_time.desc(), audit_events.c.seq.desc()).limit(limit)
        return [(r.account_id, r.body) for r in self._c.execute(q)]

    def event_in_full(self, account_id: str, event_id: str) -> tuple[int, str, str] | None:
        """(position in the account's chain, resources, body) of one event, or None."""
        row = self._c.execute(
            select(audit_events.c.seq, audit_events.c.resources, audit_events.c.body).where(
                audit_events.c.account_id == account_id, audit_events.c.event_id == event_id
            )
        ).first()
        return (int(row.seq), row.resources, row.body) if row is not None else None

    def services_of_key(self, access_key_id: str, since: datetime) -> list[tuple[str, datetime]]:
        """(service name, last time) of each service the key was used with successfully since
        ``since``, the most recent first."""
        last = func.max(audit_events.c.event_time).label("last")
        q = (
            select(audit_events.c.service_name, last)
            .where(
                audit_events.c.access_key_id == access_key_id,
                audit_events.c.event_time >= since,
                audit_events.c.error_code.is_(None),
            )
            .group_by(audit_events.c.service_name)
            .order_by(last.desc())
            .limit(50)
        )
        return [(r.service_name, r.last) for r in self._c.execute(q)]

    def prune_events(self, before: datetime) -> int:
        """Drop events older than ``before``, recording where each chain now starts."""
        dropped = 0
        for head in self.audit_heads():
            cut = self._c.scalar(
                select(func.max(audit_events.c.seq)).where(
                    audit_events.c.account_id == head.account_id,
                    audit_events.c.event_time < before,
                )
            )
            if cut is None:
                continue
            last_hash = self._c.scalar(
                select(audit_events.c.hash).where(
                    audit_events.c.account_id == head.account_id, audit_events.c.seq == cut
                )
            )
            result = self._c.execute(
                delete(audit_events)
                .where(audit_events.c.account_id == head.account_id, audit_events.c.seq <= cut)
                .returning(audit_events.c.seq)
            )
            dropped += len(result.fetchall())
            self._c.execute(
                update(audit_heads)
                .where(audit_heads.c.account_id == head.account_id)
                .values(pruned_seq=cut, pruned_hash=last_hash)
            )
        return dropped

    # -- credential reports -------------------------------------------------------------------
    def save_report(self, account_id: str, at: datetime, content: str) -> None:
        self._c.execute(
            delete(credential_reports).where(credential_reports.c.account_id == account_id)
        )
        self._c.execute(
            insert(credential_reports).values(
                account_id=account_id, generated_at=at, content=content
            )
        )

    def get_report(self, account_id: str) -> tuple[datetime, str] | None:
        row = self._c.execute(
            select(credential_reports).where(credential_reports.c.account_id == account_id)
        ).first()
        return (row.generated_at, row.content) if row else None
