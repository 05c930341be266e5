"""Leak hunting: find AccessKey IDs (and secrets next to them) in text, and say whose they are.

A found ID with a 30-character secret nearby that matches the stored secret is a confirmed leak;
an ID alone (or with a secret that does not match) is a suspect. Findings never carry a secret.
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from keyhouse.crypto import SecretBox
from keyhouse.services.trail.lookup import former_key
from keyhouse.store.sql import SqlStore, Tx

# Alibaba Cloud AccessKey IDs start with LTAI; Keyhouse issues LTAI + 20 letters and digits.
_KEY_ID = re.compile(r"(?<![A-Za-z0-9])LTAI[A-Za-z0-9]{12,28}(?![A-Za-z0-9])")
_SECRET = re.compile(r"(?<![A-Za-z0-9])[A-Za-z0-9]{30}(?![A-Za-z0-9])")
_NEAR = 3  # lines before and after an ID where its secret may sit


@dataclass(frozen=True, slots=True)
class Finding:
    source: str
    line: int
    access_key_id: str
    owner: str  # "account/user", "account (root)", or "" when neither store nor trail knows it
    status: str  # "Active" | "Inactive" | "in recycle bin" | "purged" | "unknown"
    confirmed: bool
    protected: bool = False

    def as_dict(self) -> dict[str, object]:
        return {
            "file": self.source,
            "line": self.line,
            "access_key_id": self.access_key_id,
            "owner": self.owner,
            "status": self.status,
            "finding": "confirmed" if self.confirmed else "suspect",
            "protected": self.protected,
        }


class LeakScanner:
    def __init__(self, store: SqlStore, box: SecretBox) -> None:
        self.store = store
        self.box = box

    def scan(self, source: str, lines: Iterable[str]) -> Iterator[Finding]:
        window = list(lines)
        for number, text in enumerate(window, start=1):
            for match in _KEY_ID.finditer(text):
                key_id = match.group(0)
                nearby = window[max(0, number - 1 - _NEAR) : number + _NEAR]
                candidates = {
                    s.group(0)
                    for chunk in nearby
                    for s in _SECRET.finditer(chunk)
                    if s.group(0) != key_id
                }
                yield self._judge(source, number, key_id, candidates)

    def _judge(self, source: str, line: int, key_id: str, candidates: set[str]) -> Finding:
        with self.store.transaction() as tx:
            found = tx.key_owner(key_id)
            if found is None:
                return self._former(tx, source, line, key_id)
        key, account_name, user_name, sealed, protected = found
        secret = self.box.open(key_id, sealed)
        confirmed = any(hmac.compare_digest(secret.encode(), c.encode()) for c in candidates)
        status = "in recycle bin" if key.in_bin else key.status.value
        owner = _owner(account_name, user_name)
        return Finding(source, line, key_id, owner, status, confirmed, protected)

    @staticmethod
    def _former(tx: Tx, source: str, line: int, key_id: str) -> Finding:
        """A key the store does not hold: purged (its owner from the trail, as whois says)
        or unknown."""
        history = [(a, json.loads(body)) for a, body in tx.events_of_key(key_id, mentioned=True)]
        former = former_key(key_id, history)
        if former is None:
            return Finding(source, line, key_id, "", "unknown", False)
        account = tx.get_account(former.account_id)
        name = account.name if account is not None else f"(deleted account {former.account_id})"
        owner = name if former.owner is None else _owner(name, former.owner)
        return Finding(source, line, key_id, owner, "purged", False)


def _owner(account_name: str, user_name: str | None) -> str:
    """``account/user``, or ``account (root)`` for the account's root pair."""
    return f"{account_name}/{user_name}" if user_name else f"{account_name} (root)"
