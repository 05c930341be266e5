"""Clients driving the whole AccessKey lifecycle, each owning one RAM user and keeping a model
of what that user must hold; and a checker that walks a store for the rules every state must
satisfy. Shared by the fault tests and the soak (tests/integration/test_faults.py).

An owner only asks for what the rules allow in the state it knows (create while under the
quota, delete an Inactive pair, restore while there is room, bin the user when it holds
nothing), so every refusal is a finding, as is every 5xx. Requests are signed by hand
(bench/signer.py) and sent without retries: what the server answered is what is counted.
"""

from __future__ import annotations

import http.client
import json
import random
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import create_engine, text

from tests.integration import raw

IMS = "2019-08-15"
STS = "2015-04-01"


@dataclass
class Tally:
    """What the clients saw, all together."""

    answered: int = 0
    refused: Counter[str] = field(default_factory=Counter)  # vendor code -> count
    server_errors: list[str] = field(default_factory=list)  # "status code" of every 5xx
    unreachable: int = 0  # connections refused or cut (a killed server)
    accepted: list[tuple[str, dict[str, str], str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(
        self,
        status: int,
        body: dict[str, Any],
        query: dict[str, str],
        key: str,
        expected: str | None = None,
    ) -> None:
        """One answer; a refusal with the ``expected`` code is not a finding."""
        with self.lock:
            self.answered += 1
            if status >= 500:
                envelope = "" if body.get("RequestId") and body.get("Message") else " unenveloped"
                self.server_errors.append(f"{status} {body.get('Code')}{envelope}")
            elif status != 200 and body.get("Code") != expected:
                self.refused[str(body.get("Code"))] += 1
            elif status == 200:
                self.accepted.append((str(body.get("RequestId")), query, key))


class Unreachable(Exception):
    pass


class Owner:
    """One client and the one user it owns: random lifecycle actions the rules allow."""

    def __init__(
        self, endpoint: str, root: dict[str, Any], principal: str, user_id: str, tally: Tally
    ) -> None:
        self.endpoint, self.root = endpoint, root
        self.principal, self.user_id = principal, user_id
        self.tally = tally
        self.rng = random.Random(principal)
        self.status: dict[str, str] = {}  # live pairs: AccessKey ID -> Active | Inactive
        self.binned: list[str] = []  # in the order they were binned
        self.secrets: dict[str, str] = {}
        self.user_binned = False
        self.in_doubt = False  # a request's outcome is unknown (the server died under it)
        self.unknown: set[str] = set()  # pairs whose secret never reached this client
        self.lost: list[str] = []  # what the model and the server disagree on

    # -- requests ---------------------------------------------------------------------------
    def call(
        self,
        action: str,
        params: dict[str, str],
        key: dict[str, str] | None = None,
        *,
        expected: str | None = None,
        counted: bool = True,
    ) -> tuple[int, dict[str, Any]]:
        """One signed request (by the account's root, or ``key``); counted in the tally
        unless it only reads for a check."""
        signer = key or self.root
        version = STS if action == "GetCallerIdentity" else IMS
        query = raw.rpc_query(
            signer["AccessKeyId"], signer["AccessKeySecret"], action, version, params
        )
        try:
            status, body = _post(self.endpoint, query)
        except (OSError, http.client.HTTPException) as exc:
            self.in_doubt = True
            with self.tally.lock:
                self.tally.unreachable += 1
            raise Unreachable(str(exc)) from exc
        if counted:
            self.tally.count(status, body, query, signer["AccessKeyId"], expected)
        return status, body

    def ok(self, action: str, params: dict[str, str], key: dict[str, str] | None = None) -> bool:
        status, _ = self.call(action, params, key)
        if status >= 500:
            self.in_doubt = True  # a change that could not commit: resynchronize
        return status == 200

    # -- one step ---------------------------------------------------------------------------
    def step(self) -> None:
        if self.in_doubt:
            self.resync()
            return
        choices = self._choices()
        self.rng.choice(choices)()

    def _choices(self) -> list[Any]:
        if self.user_binned:
            return [self._restore_user]
        live = list(self.status)
        choices: list[Any] = [self._list]
        if len(live) < 2:
            choices += [self._create] * 3
        for key_id in live:
            choices.append(lambda k=key_id: self._toggle(k))
            if key_id not in self.unknown:
                choices.append(lambda k=key_id: self._verify(k))
            if self.status[key_id] == "Inactive":
                choices.append(lambda k=key_id: self._bin(k))
        if self.binned and len(live) < 2:
            choices.append(lambda: self._restore(self.binned[-1]))
        if self.binned:
            choices.append(lambda: self._purge(self.rng.choice(self.binned)))
        if not live and not self.binned:
            choices.append(self._bin_user)
        return choices

    def _create(self) -> None:
        status, body = self.call("CreateAccessKey", {"UserPrincipalName": self.principal})
        if status == 200:
            key = body["AccessKey"]
            self.status[key["AccessKeyId"]] = "Active"
            self.secrets[key["AccessKeyId"]] = key["AccessKeySecret"]
        elif status >= 500:
            self.in_doubt = True

    def _toggle(self, key_id: str) -> None:
        to = "Inactive" if self.status[key_id] == "Active" else "Active"
        params = {"UserPrincipalName": self.principal, "UserAccessKeyId": key_id, "Status": to}
        if self.ok("UpdateAccessKey", params):
            self.status[key_id] = to

    def _verify(self, key_id: str) -> None:
        """A request signed with the pair: answered when Active, refused when Inactive."""
        key = {"AccessKeyId": key_id, "AccessKeySecret": self.secrets[key_id]}
        active = self.status[key_id] == "Active"
        expected = None if active else "InvalidAccessKeyId.Inactive"
        status, body = self.call("GetCallerIdentity", {}, key, expected=expected)
        if status < 500 and (status == 200) != active:
            self.lost.append(f"{key_id} {self.status[key_id]} answered {status} {body.get('Code')}")

    def _bin(self, key_id: str) -> None:
        params = {"UserPrincipalName": self.principal, "UserAccessKeyId": key_id}
        if self.ok("DeleteAccessKey", params):
            del self.status[key_id]
            self.binned.append(key_id)
            if len(self.binned) > 3:  # the bin keeps three: the earliest binned leaves
                self.binned.pop(0)

    def _restore(self, key_id: str) -> None:
        params = {"UserId": self.user_id, "UserAccessKeyId": key_id}
        if self.ok("RestoreAccessKeyFromRecycleBin", params):
            self.binned.remove(key_id)
            self.status[key_id] = "Active"

    def _purge(self, key_id: str) -> None:
        params = {"UserId": self.user_id, "UserAccessKeyId": key_id}
        if self.ok("DeleteAccessKeyInRecycleBin", params):
            self.binned.remove(key_id)

    def _bin_user(self) -> None:
        if self.ok("DeleteUser", {"UserPrincipalName": self.principal}):
            self.user_binned = True

    def _restore_user(self) -> None:
        if self.ok("RestoreUserFromRecycleBin", {"UserId": self.user_id}):
            self.user_binned = False

    def _list(self) -> None:
        self.call("ListAccessKeys", {"UserPrincipalName": self.principal})

    # -- the model against the server ------------------------------------------------------
    def server_state(self) -> tuple[bool, dict[str, str], set[str]] | None:
        """(user binned, live pairs and their status, binned pairs) as the server lists them;
        None when it cannot answer now."""
        status, body = self.call("GetUserInRecycleBin", {"UserId": self.user_id}, counted=False)
        if status >= 500:
            return None
        user_binned = status == 200
        live: dict[str, str] = {}
        if not user_binned:
            params = {"UserPrincipalName": self.principal}
            status, body = self.call("ListAccessKeys", params, counted=False)
            if status != 200:
                return None
            live = {k["AccessKeyId"]: k["Status"] for k in body["AccessKeys"]["AccessKey"]}
        params = {"UserId": self.user_id}
        status, body = self.call("ListAccessKeysInRecycleBin", params, counted=False)
        if status != 200:
            return None
        binned = {k["AccessKeyId"] for k in body["AccessKeys"]["AccessKey"]}
        return user_binned, live, binned

    def resync(self) -> None:
        """After a request whose outcome is unknown: take the server's state as the model."""
        found = self.server_state()
        if found is None:
            return
        self.user_binned, live, binned = found
        # A pair created by a request whose answer was lost has a secret nobody knows: it is
        # toggled, binned and purged like the others, but requests signed with it fail.
        for unknown in set(live) - set(self.secrets):
            self.secrets[unknown] = "unknown"
            self.unknown.add(unknown)
        self.status = live
        self.binned = [k for k in self.binned if k in binned] + sorted(binned - set(self.binned))
        self.in_doubt = False

    def check(self) -> list[str]:
        """Where the server and the model disagree (a lost or a duplicated pair)."""
        found = self.server_state()
        if found is None:
            return [f"{self.principal}: the server cannot list"]
        user_binned, live, binned = found
        problems = list(self.lost)
        if user_binned != self.user_binned:
            problems.append(f"{self.principal}: user binned {user_binned}, expected the other")
        if live != self.status:
            problems.append(f"{self.principal}: live {live}, expected {self.status}")
        if binned != set(self.binned):
            problems.append(f"{self.principal}: binned {sorted(binned)}, expected {self.binned}")
        return problems


def _post(endpoint: str, query: dict[str, str]) -> tuple[int, dict[str, Any]]:
    host, port = endpoint.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.request("POST", "/?" + urlencode(query), headers={"Host": endpoint})
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        conn.close()


def owners(
    endpoint: str, root: dict[str, Any], account: dict[str, Any], count: int, tally: Tally
) -> list[Owner]:
    """``count`` new users of ``account``, each with its owner."""
    made = []
    domain = f"{account['AccountName']}.onaliyun.com"
    for i in range(count):
        principal = f"owner{i}@{domain}"
        status, body = raw.call_rpc(
            endpoint,
            root,
            "CreateUser",
            IMS,
            {"UserPrincipalName": principal, "DisplayName": f"owner{i}"},
        )
        assert status == 200, body
        made.append(Owner(endpoint, root, principal, body["User"]["UserId"], tally))
    return made


def check_store(database_url: str) -> list[str]:
    """Every rule a state of the store must satisfy, walked with SQL: the pair quotas, the
    bin's size and dates, binned pairs Inactive, no pair live under a binned user."""
    engine = create_engine(database_url)
    problems: list[str] = []
    try:
        with engine.connect() as conn:

            def rows(sql: str) -> list[Any]:
                return list(conn.execute(text(sql)))

            for owner, count in rows(
                "SELECT coalesce(user_id, account_id), count(*) FROM access_keys "
                "WHERE recycled_at IS NULL GROUP BY coalesce(user_id, account_id), user_id "
                "HAVING count(*) > CASE WHEN user_id IS NULL THEN 5 ELSE 2 END"
            ):
                problems.append(f"{owner} holds {count} live pairs")
            for owner, count in rows(
                "SELECT coalesce(user_id, account_id), count(*) FROM access_keys "
                "WHERE recycled_at IS NOT NULL GROUP BY coalesce(user_id, account_id) "
                "HAVING count(*) > 3"
            ):
                problems.append(f"{owner} has {count} pairs in the bin")
            for key_id, status, recycled, delete_at in rows(
                "SELECT access_key_id, status, recycled_at, delete_at FROM access_keys "
                "WHERE recycled_at IS NOT NULL OR delete_at IS NOT NULL"
            ):
                if status != "Inactive":
                    problems.append(f"{key_id} is in the bin and {status}")
                if recycled is None or delete_at is None:
                    problems.append(f"{key_id} is half binned")
                elif _date(delete_at) - _date(recycled) != timedelta(days=30):
                    problems.append(f"{key_id} leaves the bin {delete_at}, binned {recycled}")
            for (key_id,) in rows(
                "SELECT k.access_key_id FROM access_keys k JOIN users u ON u.user_id = k.user_id "
                "WHERE u.recycled_at IS NOT NULL AND k.recycled_at IS NULL"
            ):
                problems.append(f"{key_id} is live under a binned user")
    finally:
        engine.dispose()
    return problems


def _date(value: Any) -> datetime:
    """A timestamp as raw SQL returns it (SQLite: text), without its zone."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=None)  # type: ignore[no-any-return]
