"""The credential report (IMS GenerateCredentialReport / GetCredentialReport): one CSV row for
the account root and one per live user, with each AccessKey pair's state and last use."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime, timedelta

from keyhouse.clock import format_date
from keyhouse.domain.errors import InvalidValue, NotFound
from keyhouse.domain.model import AccessKey, Principal
from keyhouse.domain.rules import ROOT_KEY_LIMIT
from keyhouse.services.base import UseCases

# A report this recent is served again instead of being generated anew.
FRESH = timedelta(hours=4)
_KEY_FIELDS = ("exist", "active", "created", "last_rotated", "last_used", "last_used_service")
HEADER = [
    "user",
    "user_creation_time",
    "user_last_logon",
    "password_exist",
    "password_active",
    "mfa_active",
    *[f"access_key_{n}_{f}" for n in range(1, ROOT_KEY_LIMIT + 1) for f in _KEY_FIELDS],
]


@dataclass(frozen=True, slots=True)
class ReportPage:
    content: str  # CSV text of this page, header first
    generated_at: datetime
    next_token: str


def _key_cells(keys: list[AccessKey]) -> list[str]:
    cells: list[str] = []
    for n in range(ROOT_KEY_LIMIT):
        if n < len(keys):
            k = keys[n]
            cells += [
                "true",
                "true" if k.status.value == "Active" else "false",
                format_date(k.created_at),
                format_date(k.created_at),
                format_date(k.last_used_at) or "N/A",
                k.last_used_service or "N/A",
            ]
        else:
            cells += ["false", "false", "N/A", "N/A", "N/A", "N/A"]
    return cells


class Reports(UseCases):
    def generate(self, principal: Principal) -> str:
        """Generate the report now; "COMPLETED" when a fresh one already exists."""
        now = self.clock.now()
        with self.store.transaction(write=True) as tx:
            account = self._account(tx, principal, "ram:GenerateCredentialReport", lock=True)
            existing = tx.get_report(account.account_id)
            if existing is not None and now - existing[0] < FRESH:
                return "COMPLETED"
            out = io.StringIO()
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(HEADER)
            root_keys = tx.list_live_keys(account.account_id, None)
            root = ["<root>", format_date(account.created_at), "N/A", "false", "false", "false"]
            writer.writerow([*root, *_key_cells(root_keys)])
            after: str | None = None
            while True:
                users = tx.list_live_users(account.account_id, after, 500)
                for user in users:
                    keys = tx.list_live_keys(account.account_id, user.user_id)
                    logon = format_date(user.last_login_at) or "N/A"
                    row = [
                        user.name,
                        format_date(user.created_at),
                        logon,
                        "false",
                        "false",
                        "false",
                    ]
                    writer.writerow([*row, *_key_cells(keys)])
                if len(users) < 500:
                    break
                after = users[-1].name
            tx.save_report(account.account_id, now, out.getvalue())
            return "STARTED"

    def get(self, principal: Principal, max_items: int, next_token: str | None) -> ReportPage:
        with self.store.transaction() as tx:
            account = self._account(tx, principal, "ram:GetCredentialReport")
            found = tx.get_report(account.account_id)
        if found is None:
            raise NotFound(
                "credential_report", "No credential report exists; call GenerateCredentialReport."
            )
        generated_at, content = found
        lines = content.splitlines()
        header, rows = lines[0], lines[1:]
        start = 0
        if next_token:
            if not next_token.isdigit() or int(next_token) > len(rows):
                raise InvalidValue("NextToken", "The token is not one this service returned.")
            start = int(next_token)
        page = rows[start : start + max_items]
        end = start + len(page)
        text = "\n".join([header, *page]) + "\n"
        return ReportPage(text, generated_at, str(end) if end < len(rows) else "")
