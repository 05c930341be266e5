"""The credential report (IMS GenerateCredentialReport / GetCredentialReport): one CSV row for
the account root and one per live user, with each AccessKey pair's state and last use."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime, timedelta

from keyhouse.clock import format_date
from keyhouse.domain.actions import Action
from keyhouse.domain.errors import InvalidValue, NotFound
from keyhouse.domain.mfa import OWNER
from keyhouse.domain.model import AccessKey, Principal
from keyhouse.domain.rules import ROOT_KEY_LIMIT
from keyhouse.services.base import UseCases

# A report this recent is served again instead of being generated anew.
FRESH = timedelta(hours=4)
# The vendor's columns: the first two pairs as access_key_1/2, the root's further three as
# additional_access_key_1..3; each with exist, active, last_rotated, last_used.
_KEY_FIELDS = ("exist", "active", "last_rotated", "last_used")
_KEY_SLOTS = (
    *(f"access_key_{n}" for n in (1, 2)),
    *(f"additional_access_key_{n}" for n in range(1, ROOT_KEY_LIMIT - 1)),
)
HEADER = [
    "user",
    "user_creation_time",
    "user_last_logon",
    "password_exist",
    "password_active",
    "password_last_changed",
    "password_next_rotation",
    "mfa_active",
    *[f"{slot}_{f}" for slot in _KEY_SLOTS for f in _KEY_FIELDS],
]
NOT_APPLICABLE = "N/A"
NEVER = "-"


def _bool(value: bool) -> str:
    return "TRUE" if value else "FALSE"


@dataclass(frozen=True, slots=True)
class ReportPage:
    content: str  # CSV text of this page, header first
    generated_at: datetime
    next_token: str


def _key_cells(keys: list[AccessKey]) -> list[str]:
    cells: list[str] = []
    for n in range(len(_KEY_SLOTS)):
        if n < len(keys):
            k = keys[n]
            cells += [
                _bool(True),
                _bool(k.status.value == "Active"),
                format_date(k.created_at),
                format_date(k.last_used_at) or NOT_APPLICABLE,
            ]
        else:
            cells += [_bool(False), NOT_APPLICABLE, NOT_APPLICABLE, NOT_APPLICABLE]
    return cells


def _password_cells(
    exists: bool, active: bool, changed: datetime | None, mfa_active: bool
) -> list[str]:
    """password_exist, password_active, password_last_changed, password_next_rotation (Keyhouse
    has no password rotation policy), mfa_active (an MFA device is bound)."""
    if not exists:
        return [_bool(False), NOT_APPLICABLE, NOT_APPLICABLE, NOT_APPLICABLE, _bool(mfa_active)]
    return [
        _bool(True),
        _bool(active),
        format_date(changed) or NOT_APPLICABLE,
        NOT_APPLICABLE,
        _bool(mfa_active),
    ]


class Reports(UseCases):
    def generate(self, principal: Principal) -> str:
        """Generate the report now; "COMPLETED" when a fresh one already exists."""
        now = self.clock.now()
        with self.store.transaction(write=True) as tx:
            account = self._account(tx, principal, Action.GenerateCredentialReport, lock=True)
            existing = tx.get_report(account.account_id)
            if existing is not None and now - existing[0] < FRESH:
                return "COMPLETED"
            out = io.StringIO()
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(HEADER)
            root_keys = tx.list_live_keys(account.account_id, None)
            changed = tx.account_password_changed(account.account_id)
            with_mfa = tx.mfa_holders(account.account_id)
            root = [
                "<root>",
                format_date(account.created_at),
                NOT_APPLICABLE,
                *_password_cells(
                    changed is not None, changed is not None, changed, OWNER in with_mfa
                ),
            ]
            writer.writerow([*root, *_key_cells(root_keys)])
            after: str | None = None
            while True:
                users = tx.list_live_users(account.account_id, after, 500)
                for user in users:
                    keys = tx.list_live_keys(account.account_id, user.user_id)
                    profile = tx.get_login_profile(user.user_id)
                    row = [
                        f"{user.name}@{account.default_domain}",
                        format_date(user.created_at),
                        format_date(user.last_login_at) or NEVER,
                        *_password_cells(
                            profile is not None,
                            profile is not None and profile.status == "Active",
                            profile.updated_at if profile else None,
                            user.user_id in with_mfa,
                        ),
                    ]
                    writer.writerow([*row, *_key_cells(keys)])
                if len(users) < 500:
                    break
                after = users[-1].name
            tx.save_report(account.account_id, now, out.getvalue())
            return "STARTED"

    def get(self, principal: Principal, max_items: int, next_token: str | None) -> ReportPage:
        with self.store.transaction() as tx:
            account = self._account(tx, principal, Action.GetCredentialReport)
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
