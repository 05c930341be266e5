"""(d)'s store: 1,000,000 AccessKeys and 100,000 live users, loaded straight into the tables.

Within the rules: 100 accounts, each with 1000 live users (2 live + 3 binned keys each) and
1000 users in the user recycle bin (5 binned keys each): 1,000,000 keys, 200,000 user rows.
Secrets are sealed under the store's own master key like any other.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

from keyhouse.crypto import SecretBox, read_key_file
from keyhouse.store.engine import make_engine
from keyhouse.store.schema import access_keys, accounts, users

ACCOUNTS = 100
USERS_PER_STATE = 1000  # live users per account, and as many binned ones


def load(url: str, key_file: Path) -> float:
    """Load the data set; returns the seconds it took."""
    started = time.monotonic()
    box = SecretBox(read_key_file(key_file) or [])
    engine = make_engine(url)
    now = datetime.now(UTC)
    later = now + timedelta(days=30)
    try:
        for a in range(ACCOUNTS):
            account_id = f"9{a:015d}"
            with engine.begin() as conn:
                conn.execute(
                    insert(accounts).values(
                        account_id=account_id,
                        name=f"load{a}",
                        default_domain=f"load{a}.onaliyun.com",
                        key_deletion="recycle-bin",
                        created_at=now,
                    )
                )
                user_rows, key_rows = [], []
                for u in range(2 * USERS_PER_STATE):
                    binned = u >= USERS_PER_STATE
                    user_id = f"8{a:07d}{u:08d}"
                    user_rows.append(
                        {
                            "user_id": user_id,
                            "account_id": account_id,
                            "name": f"u{u}",
                            "live_name": None if binned else f"u{u}",
                            "display_name": f"u{u}",
                            "comments": "",
                            "email": "",
                            "mobile_phone": "",
                            "created_at": now,
                            "updated_at": now,
                            "last_login_at": None,
                            "recycled_at": now if binned else None,
                            "delete_at": later if binned else None,
                        }
                    )
                    for k in range(5):
                        in_bin = binned or k >= 2
                        key_id = f"LTAIld{a:03d}{u:05d}{k:02d}00000000"[:24]
                        sealed = box.seal(key_id, f"loadsecret{a:04d}{u:06d}{k:02d}0000000000")
                        key_rows.append(
                            {
                                "access_key_id": key_id,
                                "account_id": account_id,
                                "user_id": user_id,
                                "status": "Inactive" if in_bin else "Active",
                                "secret_key_id": sealed.key_id,
                                "secret_sealed": sealed.blob,
                                "created_at": now,
                                "updated_at": now,
                                "recycled_at": now if in_bin else None,
                                "delete_at": later if in_bin else None,
                                "last_used_at": None,
                                "last_used_service": "",
                            }
                        )
                conn.execute(insert(users), user_rows)
                conn.execute(insert(access_keys), key_rows)
    finally:
        engine.dispose()
    return time.monotonic() - started


def load_expired(url: str, key_file: Path, count: int, account_id: str | None = None) -> None:
    """``count`` binned root keys past their DeleteDate, in ``account_id`` (or a new account)."""
    box = SecretBox(read_key_file(key_file) or [])
    engine = make_engine(url)
    past = datetime.now(UTC) - timedelta(days=40)
    try:
        with engine.begin() as conn:
            if account_id is None:
                account_id = "7000000000000001"
                conn.execute(
                    insert(accounts).values(
                        account_id=account_id,
                        name="expired",
                        default_domain="expired.onaliyun.com",
                        key_deletion="recycle-bin",
                        created_at=past,
                    )
                )
            for start in range(0, count, 10000):
                rows = []
                for n in range(start, min(start + 10000, count)):
                    key_id = f"LTAIexp{n:017d}"
                    sealed = box.seal(key_id, f"expiredsecret{n:017d}")
                    rows.append(
                        {
                            "access_key_id": key_id,
                            "account_id": account_id,
                            "user_id": None,
                            "status": "Inactive",
                            "secret_key_id": sealed.key_id,
                            "secret_sealed": sealed.blob,
                            "created_at": past,
                            "updated_at": past,
                            "recycled_at": past,
                            "delete_at": past + timedelta(days=30),
                            "last_used_at": None,
                            "last_used_service": "",
                        }
                    )
                conn.execute(insert(access_keys), rows)
    finally:
        engine.dispose()
