"""Reading the audit trail: ActionTrail LookupEvents, verification, and the operator's
questions (who still uses this key, what would this network policy refuse)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from keyhouse.clock import parse_date
from keyhouse.domain import audit, netpolicy
from keyhouse.domain.actions import Action
from keyhouse.domain.errors import InvalidValue, NotFound
from keyhouse.domain.model import Principal
from keyhouse.services.base import UseCases


@dataclass(frozen=True, slots=True)
class Page:
    events: list[dict[str, Any]]
    next_token: str
    start: datetime
    end: datetime


_LOOKUP_KEYS = (
    "EventAccessKeyId",
    "EventName",
    "User",
    "EventRW",
    "EventId",
    "ServiceName",
    "ResourceName",
)
# Refusals that mean "this key exists no longer, or not as a usable key".
DEAD_KEY_CODES = ("InvalidAccessKeyId.Inactive", "InvalidAccessKeyId.NotFound")


def _token(at: datetime, seq: int) -> str:
    return base64.urlsafe_b64encode(f"{at.isoformat()}|{seq}".encode()).decode()


def _untoken(token: str) -> tuple[datetime, int]:
    refused = InvalidValue("NextToken", "The token is not one this service returned.")
    if len(token) > 200:
        raise refused
    try:
        at, seq = base64.urlsafe_b64decode(token.encode()).decode().split("|")
        when, number = datetime.fromisoformat(at), int(seq)
    except (ValueError, UnicodeError) as exc:
        raise refused from exc
    if when.tzinfo is None or not 0 <= number < 2**63:
        raise refused
    return when, number


class Trail(UseCases):
    """Reading the trail: ActionTrail LookupEvents, and the operator's questions."""

    def lookup(
        self,
        principal: Principal,
        attributes: list[tuple[str, str]],
        start: datetime | None,
        end: datetime | None,
        max_results: int,
        next_token: str | None,
        forward: bool,
        *,
        errors_only: bool = False,
    ) -> Page:
        now = self.clock.now()
        end = end or now
        start = start or end - timedelta(days=7)
        if start > end:
            raise InvalidValue("StartTime", "StartTime must not be after EndTime.")
        filters: dict[str, str] = {}
        resource = None
        for key, value in attributes:
            if key not in _LOOKUP_KEYS:
                raise InvalidValue(
                    "LookupAttribute", f"Unknown key {key!r}; use one of {', '.join(_LOOKUP_KEYS)}."
                )
            if key == "ResourceName":
                resource = value
            else:
                filters[key] = value
        after = _untoken(next_token) if next_token else None
        with self.store.transaction() as tx:
            account = self._account(tx, principal, Action.LookupEvents)
            rows = tx.lookup_events(
                account.account_id,
                start,
                end,
                filters,
                resource,
                after,
                forward,
                max_results + 1,
                errors_only=errors_only,
            )
        page = rows[:max_results]
        more = len(rows) > max_results
        token = _token(page[-1][0], page[-1][1]) if more and page else ""
        return Page([json.loads(body) for _, _, body in page], token, start, end)

    def role_sessions(
        self, principal: Principal, role_arn: str, limit: int
    ) -> list[dict[str, Any]]:
        """The newest ``limit`` AssumeRole events of the last 7 days naming the role (refused
        ones too): the role's sessions, as the console's role page and ``keyhouse role show``
        list them."""
        attributes = [("EventName", "AssumeRole"), ("ResourceName", role_arn)]
        return self.lookup(principal, attributes, None, None, limit, None, False).events

    def event(self, principal: Principal, event_id: str) -> tuple[int, list[str], dict[str, Any]]:
        """One event of the caller's account in full: its position in the account's chain,
        the resources it concerns, its body (NotFound when the account has no such event)."""
        with self.store.transaction() as tx:
            account = self._account(tx, principal, Action.LookupEvents)
            found = tx.event_in_full(account.account_id, event_id[:64])
        if found is None:
            raise NotFound("event", f"The event does not exist: {event_id[:64]}.")
        seq, resources, body = found
        return seq, resources.split(), json.loads(body)

    def service_calls(self, principal: Principal, service: str, limit: int) -> list[dict[str, Any]]:
        """The newest ``limit`` verifications of the last 7 days of requests to a protected
        service (refused ones too): who called what, as the console's service page and
        ``keyhouse service show`` list them."""
        attributes = [("ServiceName", service)]
        return self.lookup(principal, attributes, None, None, limit, None, False).events

    # -- operator views (CLI) -------------------------------------------------------------
    def verify(self, account_id: str | None = None) -> list[audit.Break]:
        """Every account's chain (or one); the first break of each broken one."""
        with self.store.transaction() as tx:
            heads = tx.audit_heads([account_id] if account_id is not None else None)
            breaks = []
            for head in heads:
                found = audit.verify(head, tx.chain(head.account_id), self.store.chain_key)
                if found is not None:
                    breaks.append(found)
            return breaks

    def export(self, since: datetime, until: datetime | None) -> Iterator[str]:
        with self.store.transaction() as tx:
            yield from tx.events_between(since, until)

    def services_used(self, access_key_id: str, days: int = 30) -> list[tuple[str, datetime]]:
        """The services (Keyhouse's own and protected ones) a key was used with in the last
        ``days`` days, with when last, most recent first: what its keys table shows."""
        since = self.clock.now() - timedelta(days=days)
        with self.store.transaction() as tx:
            return tx.services_of_key(access_key_id, since)

    def attempts(self, access_key_id: str, limit: int = 1000) -> list[dict[str, Any]]:
        """Refused uses of a disabled, binned or purged key, newest first."""
        with self.store.transaction() as tx:
            found = tx.events_of_key(access_key_id, errors=DEAD_KEY_CODES, limit=limit)
        return [json.loads(body) for _, body in found]

    def history(self, access_key_id: str, limit: int = 1000) -> list[tuple[str, dict[str, Any]]]:
        """(account id, event) of events signed with or naming the key, newest first."""
        with self.store.transaction() as tx:
            found = tx.events_of_key(access_key_id, mentioned=True, limit=limit)
        return [(account, json.loads(body)) for account, body in found]

    def simulate(
        self, principal: Principal, access_key_id: str, document: str, days: int
    ) -> list[dict[str, Any]]:
        """Recent successful uses of the key that ``document`` (a network access policy)
        would have refused, newest first. They come from the trail, so the caller must be
        allowed to read it (``actiontrail:LookupEvents``); only its own account's uses."""
        proposed = netpolicy.parse(document)
        since = self.clock.now() - timedelta(days=days)
        with self.store.transaction() as tx:
            if not principal.is_operator:
                account = self._account(tx, principal, Action.LookupEvents)
            found = tx.events_of_key(access_key_id, since=since, limit=100_000)
        if not principal.is_operator:
            found = [(a, body) for a, body in found if a == account.account_id]
        return _refused_by(proposed, (body for _, body in found))

    def simulate_account(
        self, principal: Principal, document: str, days: int
    ) -> list[dict[str, Any]]:
        """The same for every key of the caller's account (an account-level policy), as far
        as the caller may read the trail."""
        proposed = netpolicy.parse(document)
        now = self.clock.now()
        with self.store.transaction() as tx:
            account = self._account(tx, principal, Action.LookupEvents)
            rows = tx.lookup_events(
                account.account_id, now - timedelta(days=days), now, {}, None, None, False, 100_000
            )
        return _refused_by(proposed, (body for _, _, body in rows))


def _refused_by(proposed: netpolicy.NetworkPolicy, bodies: Iterable[str]) -> list[dict[str, Any]]:
    refused = []
    for body in bodies:
        event = json.loads(body)
        if event.get("errorCode") or event.get("eventType") != "ApiCall":
            continue  # refused anyway, or not signed with an AccessKey
        if not proposed.allows(event.get("sourceIpAddress", "")):
            refused.append(event)
    return refused


def parse_time(text: str, parameter: str) -> datetime:
    try:
        return parse_date(text)
    except ValueError as exc:
        raise InvalidValue(parameter, "Use a UTC time such as 2026-11-29T08:00:00Z.") from exc


@dataclass(frozen=True, slots=True)
class FormerKey:
    """What the trail remembers of a key the store no longer holds (purged)."""

    account_id: str
    owner: str | None  # its user's name, "" for the account's root, None when not recorded
    created_at: str | None  # when, as the trail has it (None: before the trail)
    purged_at: str | None


# The events that end a key for good: the sweep's purge, a purge by hand, immediate deletion.
_PURGES = frozenset(
    {"PurgeAccessKeysFromRecycleBin", "DeleteAccessKeyInRecycleBin", "DeleteAccessKey"}
)


def former_key(
    access_key_id: str, history: Sequence[tuple[str, dict[str, Any]]]
) -> FormerKey | None:
    """Whose the purged key was, from its events (newest first, as :meth:`Trail.history`
    gives them): the account of an event that proves the key was there (one signed with it,
    which lands in its account's trail while the store knows it, or a change naming it that
    succeeded; a refused attempt after the purge is in no account's trail, and a request in
    another account that merely names the ID proves nothing), and the user it was made for."""
    account_id = next(
        (
            account
            for account, e in history
            if account
            and (
                signed_with(e, access_key_id)
                or (not e.get("errorCode") and _names(e, access_key_id))
            )
        ),
        None,
    )
    if account_id is None:
        return None
    mine = [e for account, e in history if account == account_id and not e.get("errorCode")]
    created = [e for e in mine if e["eventName"] == "CreateAccessKey"]
    purged = [e for e in mine if e["eventName"] in _PURGES]
    owner: str | None = None
    signed = [e for e in mine if signed_with(e, access_key_id)]
    if signed:
        name = signed[0]["userIdentity"].get("userName") or ""
        owner = "" if signed[0]["userIdentity"].get("type") == "root-account" else name
    if created:
        given = created[-1].get("requestParameters") or {}
        named = given.get("UserPrincipalName", "").split("@", 1)[0] or given.get("UserName", "")
        owner = named
    return FormerKey(
        account_id,
        owner,
        created[-1]["eventTime"] if created else None,
        purged[0]["eventTime"] if purged else None,
    )


def _names(event: dict[str, Any], access_key_id: str) -> bool:
    """Whether the event names this very key, alone or in a space-separated list (the sweep's
    purge events): the store's look-up by resource may also match the ID in another case."""
    named = (event.get("requestParameters") or {}, event.get("responseElements") or {})
    return any(
        isinstance(v, str) and access_key_id in v.split() for part in named for v in part.values()
    )


def signed_with(event: dict[str, Any], access_key_id: str) -> bool:
    """Whether the event is of a request signed with this key."""
    return bool((event.get("userIdentity") or {}).get("accessKeyId") == access_key_id)
