"""Property: the hot reads' lane (keyhouse.services.hot_reads) and the general path answer every
GetCallerIdentity and ListAccessKeys alike: the same reply bytes and the same event rows.

Hypothesis draws the caller (the root, a RAM user without policies, one with a read policy,
one with an explicit Deny, one whose key is fenced to another network, one whose key is under
leak protection, a role session with and without a policy), the action (STS
GetCallerIdentity, IMS and RAM ListAccessKeys naming no user, the caller, another user or
nobody who exists), the scheme (RPC or ACS3) and the situation (a good signature, a wrong
secret, a replay). Each drawn request is sent twice to the same application on a real store
(SQLite file, PostgreSQL): once with the lane on and once with it off, each time signed anew
(its own nonce), from the same source, after a warm-up that puts the caller in the cache. Time
stands still and request and event IDs are counted from the same start in both runs, so the
two runs must leave byte-identical replies and identical event rows (but for their places in
the chain). The application is called in process, as the ASGI server calls it: what is
compared is two paths of one application, over the real store.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from keyhouse import ids
from keyhouse.api.asgi import WireApp
from keyhouse.app import build_app, build_services
from keyhouse.clock import FixedClock
from keyhouse.config import Settings
from keyhouse.domain.actions import Command
from keyhouse.services.registry import Services
from tests.conftest import scratch_database
from tests.integration.raw import rpc_query, v3_headers

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
STAMP = "2026-12-05T12:00:00Z"
STS, IMS, RAM = "2015-04-01", "2019-08-15", "2015-05-01"


@dataclass(frozen=True)
class Caller:
    access_key_id: str
    secret: str
    token: str | None = None


class Harness:
    """One application on a real store, called in process on one event loop."""

    def __init__(self, app: WireApp, services: Services, runner: asyncio.Runner) -> None:
        self.app = app
        self.services = services
        self.runner = runner
        self.sources = itertools.count(1)

    def call(
        self,
        caller: Caller,
        action: str,
        version: str,
        params: dict[str, str],
        *,
        scheme: str = "rpc",
        source: str = "10.0.0.1",
        wrong_secret: bool = False,
        nonce: str | None = None,
    ) -> Callable[[], tuple[int, bytes]]:
        """A signed request, ready to send (again: a replay) as often as wanted."""
        secret = caller.secret + ("x" if wrong_secret else "")
        given = dict(params)
        headers: list[tuple[bytes, bytes]] = [(b"host", b"keyhouse.test"), (b"user-agent", b"t")]
        if scheme == "rpc":
            if caller.token:
                given["SecurityToken"] = caller.token
            query = rpc_query(
                caller.access_key_id, secret, action, version, given, timestamp=STAMP, nonce=nonce
            )
            query_string = urlencode(query).encode()
        else:
            signed = v3_headers(
                "keyhouse.test",
                caller.access_key_id,
                secret,
                action,
                version,
                given,
                date=STAMP,
                nonce=nonce,
                token=caller.token,
            )
            headers = [(k.encode(), v.encode()) for k, v in signed.items()] + [
                (b"user-agent", b"t")
            ]
            query_string = urlencode(given).encode()
        scope = {
            "type": "http",
            "method": "POST",
            "path": "/",
            "query_string": query_string,
            "headers": headers,
            "client": (source, 40000),
            "scheme": "http",
        }
        return lambda: self.runner.run(self._send(scope))

    async def _send(self, scope: dict[str, Any]) -> tuple[int, bytes]:
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await self.app(scope, receive, send)
        return sent[0]["status"], sent[1]["body"]

    def ok(self, caller: Caller, action: str, version: str, **params: str) -> dict[str, Any]:
        status, body = self.call(caller, action, version, params)()
        assert status == 200, body
        return orjson.loads(body)  # type: ignore[no-any-return]

    def events_after(self, marks: dict[str, int]) -> list[dict[str, Any]]:
        with self.services.store.engine.connect() as c:
            rows = c.execute(text("SELECT * FROM audit_events ORDER BY account_id, seq")).mappings()
            return [
                {k: v for k, v in row.items() if k not in {"seq", "prev_hash", "hash"}}
                for row in rows
                if row["seq"] > marks.get(row["account_id"], 0)
            ]

    def forget_last_use(self) -> None:
        with self.services.store.engine.begin() as c:
            c.execute(text("UPDATE access_keys SET last_used_at = NULL, last_used_service = ''"))

    def last_uses(self) -> list[tuple[Any, ...]]:
        with self.services.store.engine.connect() as c:
            found = c.execute(
                text(
                    "SELECT access_key_id, last_used_at, last_used_service FROM access_keys "
                    "WHERE last_used_at IS NOT NULL ORDER BY access_key_id"
                )
            ).all()
        return [tuple(row) for row in found]

    def marks(self) -> dict[str, int]:
        with self.services.store.engine.connect() as c:
            found = c.execute(text("SELECT account_id, seq FROM audit_heads")).all()
        return {account_id: int(seq) for account_id, seq in found}


def _counting(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """Request and event IDs from counters, each run's under a tag of its own (event IDs are
    unique in the store); the returned function starts a run's counters under ``tag``."""
    state: dict[str, Any] = {}

    def restart(tag: str) -> None:
        state.update(tag=tag, request=itertools.count(1), event=itertools.count(1))

    restart("0")
    monkeypatch.setattr(
        ids,
        "request_id",
        lambda: f"{state['tag']:0>8}-0000-4000-8000-{next(state['request']):012d}",
    )
    monkeypatch.setattr(
        ids, "event_id", lambda: f"{state['tag']:0>8}-0000-4000-9000-{next(state['event']):012d}"
    )
    return restart


_RUN_ID = re.compile(r"RUN-0000-4000-[89]000-[0-9]{12}")


def _renumbered(value: Any, seen: dict[str, str]) -> Any:
    """``value`` with each run's IDs numbered by first appearance: a request that met a cache
    miss (or a stale entry) on the way draws one request ID more, on either path alike."""

    def number(match: re.Match[str]) -> str:
        return seen.setdefault(match.group(), f"ID-{len(seen)}")

    if isinstance(value, bytes):
        return _RUN_ID.sub(number, value.decode()).encode()
    if isinstance(value, str):
        return _RUN_ID.sub(number, value)
    if isinstance(value, dict):
        return {k: _renumbered(v, seen) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_renumbered(v, seen) for v in value)
    return value


def _untagged(value: Any, tag: str, nonce: str) -> Any:
    """``value`` (bytes, a row) with the run's tag in its IDs, and its nonce, made the same
    for every run."""
    mark = f"{tag:0>8}-0000-4000-"
    if isinstance(value, bytes):
        return value.replace(mark.encode(), b"RUN-0000-4000-").replace(nonce.encode(), b"NONCE")
    if isinstance(value, str):
        return value.replace(mark, "RUN-0000-4000-").replace(nonce, "NONCE")
    if isinstance(value, dict):
        return {k: _untagged(v, tag, nonce) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_untagged(v, tag, nonce) for v in value)
    return value


def _trust(account_id: str) -> str:
    statement = {
        "Effect": "Allow",
        "Action": "sts:AssumeRole",
        "Principal": {"RAM": [f"acs:ram::{account_id}:root"]},
    }
    return json.dumps({"Version": "1", "Statement": [statement]})


def _fenced() -> str:
    statement = {"Type": "ClassicWhiteList", "IPList": ["192.168.0.0/16"]}
    return json.dumps({"Version": 1, "Status": "Active", "Statements": [statement]})


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Harness, dict[str, Caller], str]]:
    """The application, its callers by kind, and the account's default domain."""
    work = tmp_path_factory.mktemp("lanes")
    with _database(request.param, work) as url:
        configured = Settings(
            database_url=url,
            master_key_file=work / "master.key",
            auth_failures_per_minute=0,  # the throttle would tell the runs apart
        )
        services = build_services(configured, FixedClock(NOW))
        app = build_app(configured, services)
        app.on_startup()
        with asyncio.Runner() as runner:
            try:
                harness = Harness(app, services, runner)
                callers = _callers(harness, services)
                domain = str(_domain(harness, callers["root"]))
                yield harness, callers, domain
            finally:
                app.on_shutdown()


class _database:
    def __init__(self, backend: str, work: Path) -> None:
        self.backend, self.work = backend, work

    def __enter__(self) -> str:
        if self.backend == "sqlite":
            return f"sqlite:///{self.work / 'keyhouse.db'}"
        self._pg = scratch_database()
        return self._pg.__enter__()

    def __exit__(self, *exc: object) -> None:
        if self.backend != "sqlite":
            self._pg.__exit__(None, None, None)


def _root(services: Services) -> Caller:
    from keyhouse.cli.common import acting

    with acting(services, "", Command.CreateAccount, {"AccountName": "lanes"}):
        _, created = services.accounts.create("lanes")
    return Caller(created.key.access_key_id, created.secret)


def _domain(h: Harness, root: Caller) -> str:
    return str(h.ok(root, "GetDefaultDomain", IMS)["DefaultDomainName"])


def _callers(h: Harness, services: Services) -> dict[str, Caller]:
    root = _root(services)
    domain = _domain(h, root)
    account_id = h.ok(root, "GetCallerIdentity", STS)["AccountId"]
    callers = {"root": root}

    def user(name: str) -> Caller:
        upn = f"{name}@{domain}"
        h.ok(root, "CreateUser", IMS, UserPrincipalName=upn, DisplayName=name)
        made = h.ok(root, "CreateAccessKey", IMS, UserPrincipalName=upn)["AccessKey"]
        return Caller(made["AccessKeyId"], made["AccessKeySecret"])

    callers["plain"] = user("plain")
    callers["reader"] = user("reader")
    h.ok(
        root,
        "AttachPolicyToUser",
        RAM,
        UserName="reader",
        PolicyName="AliyunRAMReadOnlyAccess",
        PolicyType="System",
    )
    callers["denied"] = user("denied")
    deny = {"Effect": "Deny", "Action": "ram:ListAccessKeys", "Resource": "*"}
    allow = {"Effect": "Allow", "Action": "ram:*", "Resource": "*"}
    h.ok(
        root,
        "CreatePolicy",
        RAM,
        PolicyName="NoKeys",
        PolicyDocument=json.dumps({"Version": "1", "Statement": [deny, allow]}),
    )
    h.ok(
        root, "AttachPolicyToUser", RAM, UserName="denied", PolicyName="NoKeys", PolicyType="Custom"
    )
    callers["fenced"] = user("fenced")
    h.ok(
        root,
        "SetAccessKeyPolicy",
        IMS,
        UserPrincipalName=f"fenced@{domain}",
        UserAccessKeyId=callers["fenced"].access_key_id,
        AccessKeyPolicy=_fenced(),
    )
    callers["protected"] = user("protected")
    from keyhouse.cli.common import acting

    protected = callers["protected"].access_key_id
    with acting(
        services, account_id, Command.ProtectAccessKey, {"UserAccessKeyId": protected}
    ) as who:
        services.keys.protect(who, protected, "a test")
    assumer = user("assumer")  # the root may not assume roles
    h.ok(
        root,
        "AttachPolicyToUser",
        RAM,
        UserName="assumer",
        PolicyName="AliyunSTSAssumeRoleAccess",
        PolicyType="System",
    )
    for role, policy in (("Reader", "AliyunRAMReadOnlyAccess"), ("Nothing", "")):
        h.ok(root, "CreateRole", RAM, RoleName=role, AssumeRolePolicyDocument=_trust(account_id))
        if policy:
            h.ok(
                root,
                "AttachPolicyToRole",
                RAM,
                RoleName=role,
                PolicyName=policy,
                PolicyType="System",
            )
        minted = h.ok(
            assumer,
            "AssumeRole",
            STS,
            RoleArn=f"acs:ram::{account_id}:role/{role.lower()}",
            RoleSessionName="lanes",
        )["Credentials"]
        callers[f"session-{role.lower()}"] = Caller(
            minted["AccessKeyId"], minted["AccessKeySecret"], minted["SecurityToken"]
        )
    return callers


CALLERS = [
    "root",
    "plain",
    "reader",
    "denied",
    "fenced",
    "protected",
    "session-reader",
    "session-nothing",
]


def _request(domain: str, action: str, whom: str) -> tuple[str, str, dict[str, str]]:
    """(version, action, parameters) of a drawn read."""
    named = {"none": None, "self-ish": "plain", "other": "reader", "nobody": "ghost"}[whom]
    if action == "GetCallerIdentity":
        return STS, action, {}
    if action == "ims:ListAccessKeys":
        return (
            IMS,
            "ListAccessKeys",
            {} if named is None else {"UserPrincipalName": f"{named}@{domain}"},
        )
    return RAM, "ListAccessKeys", {} if named is None else {"UserName": named}


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    who=st.sampled_from(CALLERS),
    action=st.sampled_from(["GetCallerIdentity", "ims:ListAccessKeys", "ram:ListAccessKeys"]),
    whom=st.sampled_from(["none", "self-ish", "other", "nobody"]),
    scheme=st.sampled_from(["rpc", "v3"]),
    situation=st.sampled_from(["signed", "wrong secret", "replayed"]),
)
def test_the_lane_and_the_general_path_answer_alike(
    world: tuple[Harness, dict[str, Caller], str],
    monkeypatch: pytest.MonkeyPatch,
    who: str,
    action: str,
    whom: str,
    scheme: str,
    situation: str,
) -> None:
    h, callers, domain = world
    restart = _counting(monkeypatch)
    caller = callers[who]
    version, name, params = _request(domain, action, whom)
    source = f"10.1.{next(h.sources) % 250}.{next(h.sources) % 250}"  # a budget of its own
    runs = []
    refused_nonce = uuid.uuid4().hex
    for lane in (True, False):
        h.app.dispatcher.hot_lane = lane
        tag = f"{next(h.sources):x}"
        restart(tag + "a")  # the warm-up's IDs
        # What the request reads, cached (a request of its own, signed with its own nonce).
        h.call(caller, name, version, params, scheme=scheme, source=source)()
        marks = h.marks()
        h.forget_last_use()
        restart(tag)
        # A refusal's message holds its string to sign: a wrong signature never spends its
        # nonce, so both runs send the same one; the others each their own (made the same in
        # what is compared).
        nonce = refused_nonce if situation == "wrong secret" else uuid.uuid4().hex
        send = h.call(
            caller,
            name,
            version,
            params,
            scheme=scheme,
            source=source,
            wrong_secret=situation == "wrong secret",
            nonce=nonce,
        )
        replies = [send()]
        if situation == "replayed":
            replies.append(send())
        found = _untagged((replies, h.events_after(marks), h.last_uses()), tag, nonce)
        runs.append(_renumbered(found, {}))
    (lane_replies, lane_events, lane_uses), (general_replies, general_events, general_uses) = runs
    assert lane_replies == general_replies
    assert lane_events == general_events
    assert lane_uses == general_uses  # the keys' last-used notes
    assert len(lane_events) == len(lane_replies)  # one event per request, each run


def test_the_lane_answers_allowed_reads_and_leaves_the_rest(
    world: tuple[Harness, dict[str, Caller], str],
) -> None:
    """The property above would hold if the lane answered nothing: it answers allowed hot reads
    itself (the general path is never entered for them) and leaves refusals alone."""
    h, callers, domain = world
    h.app.dispatcher.hot_lane = True
    general = h.app.dispatcher._run
    entered: list[object] = []
    h.app.dispatcher._run = lambda req: entered.append(req) or general(req)  # type: ignore[method-assign]
    try:
        reader = callers["reader"]
        h.call(reader, "GetCallerIdentity", STS, {})()  # cached
        for version, name, params in (
            (STS, "GetCallerIdentity", {}),
            (IMS, "ListAccessKeys", {"UserPrincipalName": f"plain@{domain}"}),
            (RAM, "ListAccessKeys", {"UserName": "reader"}),
        ):
            status, _ = h.call(reader, name, version, params)()
            assert status == 200
        assert entered == []
        status, _ = h.call(callers["denied"], "ListAccessKeys", RAM, {"UserName": "plain"})()
        assert status == 403 and len(entered) == 1
    finally:
        del h.app.dispatcher._run
