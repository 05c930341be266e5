"""``keyhouse backup`` while the server serves a load, and ``keyhouse restore`` into an empty
store: every pair in the restored store verifies with its secret, the audit chains hold, and
what was there before the backup began is there after. Both backends."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from keyhouse.crypto import MasterKey, write_key_file
from tests.conftest import scratch_database
from tests.integration.conftest import upn
from tests.integration.sdk import Api, ApiError
from tests.integration.server import Server
from tests.integration.steps import bin_key, make_key, make_user
from tests.integration.test_sts import trust


class Load(threading.Thread):
    """A client creating, using and binning pairs as fast as it can until stopped: every pair
    it made, with its secret, and every 5xx it saw."""

    def __init__(self, server: Server, root: Api, principal: str) -> None:
        super().__init__(daemon=True)
        self.server, self.root, self.principal = server, root, principal
        self.secrets: dict[str, str] = {}
        self.server_errors: list[str] = []
        self.stop = threading.Event()
        self.rounds = 0

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                key = make_key(self.root, self.principal)
                self.secrets[key["AccessKeyId"]] = key["AccessKeySecret"]
                Api("v2", self.server.endpoint, key["AccessKeyId"], key["AccessKeySecret"]).sts(
                    "GetCallerIdentity"
                )
                bin_key(self.root, self.principal, key["AccessKeyId"])
                self.root.ims("ListAccessKeys", UserPrincipalName=self.principal)
                self.rounds += 1
            except ApiError as exc:
                if exc.status >= 500:
                    self.server_errors.append(str(exc))


@pytest.fixture
def target_url(backend: str, tmp_path: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'restored.db'}"
        return
    with scratch_database() as url:
        yield url


def test_a_backup_under_load_restores_into_an_empty_store(
    own_server: Server, target_url: str, tmp_path: Path
) -> None:
    server = own_server
    account = server.create_account(f"b{uuid.uuid4().hex[:8]}")
    root = Api("v3", server.endpoint, account["AccessKeyId"], account["AccessKeySecret"])
    me = account["AccountId"]
    before: dict[str, str] = {account["AccessKeyId"]: account["AccessKeySecret"]}
    for name in ("ann", "bob", "cy"):
        principal = make_user(root, account, name)
        for _ in range(2):
            key = make_key(root, principal)
            before[key["AccessKeyId"]] = key["AccessKeySecret"]
    root.ram("CreateRole", RoleName="Ops", AssumeRolePolicyDocument=trust(f"acs:ram::{me}:root"))
    load = Load(server, root, make_user(root, account, "busy"))
    load.start()
    try:
        while load.rounds < 3:
            load.stop.wait(0.1)
        file = tmp_path / "keyhouse.backup"
        made = server.cli("backup", str(file))
        at_backup = load.rounds
        while load.rounds < at_backup + 3:  # the load goes on after it
            load.stop.wait(0.1)
    finally:
        load.stop.set()
        load.join(30)
    assert load.server_errors == []
    assert "The master key is not in the backup" in made.stdout
    assert file.stat().st_mode & 0o777 == 0o600
    again = server.cli("backup", str(file), check=False)
    assert again.returncode == 1 and "already exists" in again.stderr

    restored = server.cli("restore", str(file), "--database-url", target_url)
    assert "Restored" in restored.stdout
    verify = server.cli("audit", "verify", "--database-url", target_url)
    assert "The audit trail is intact." in verify.stdout
    twice = server.cli("restore", str(file), "--database-url", target_url, check=False)
    assert twice.returncode == 1 and "not empty" in twice.stderr

    copy = Server(target_url, server.key_file, tmp_path).start()
    try:
        assert "AccessKeySecret" not in copy.stdout_path.read_text()  # no new default account
        back = Api("v3", copy.endpoint, account["AccessKeyId"], account["AccessKeySecret"])
        assert back.ram("GetRole", RoleName="ops")["Role"]["RoleName"] == "Ops"
        live: list[dict[str, Any]] = []
        for name in ("ann", "bob", "cy", "busy"):
            found = back.ims("ListAccessKeys", UserPrincipalName=upn(account, name))
            live += found["AccessKeys"]["AccessKey"]
        ids = {k["AccessKeyId"] for k in live}
        # Everything made before the backup began is there...
        assert set(before) - {account["AccessKeyId"]} <= ids
        # ...and every pair the restored store holds verifies with its secret.
        secrets = {**before, **load.secrets}
        for key in live:
            if key["Status"] != "Active":
                continue
            signer = Api("v2", copy.endpoint, key["AccessKeyId"], secrets[key["AccessKeyId"]])
            assert signer.sts("GetCallerIdentity")["AccountId"] == me
        assert back.sts("GetCallerIdentity")["AccountId"] == me
    finally:
        copy.stop()


def test_restore_refuses_a_wrong_master_key_and_what_is_not_a_backup(
    own_server: Server, tmp_path: Path
) -> None:
    file = tmp_path / "k.backup"
    own_server.cli("backup", str(file))
    # Into an empty store whose key is another: the key is what is wrong.
    stranger = tmp_path / "stranger.key"
    write_key_file(stranger, [MasterKey.generate()])
    empty = Server(f"sqlite:///{tmp_path / 'empty.db'}", stranger, tmp_path)
    wrong = empty.cli("restore", str(file), check=False)
    assert wrong.returncode == 3 and "master key" in wrong.stderr, wrong.stderr
    # Into a store that is not empty, with another key too: that it is not empty comes first.
    other = Server(f"sqlite:///{tmp_path / 'other.db'}", tmp_path / "other.key", tmp_path)
    other.cli("account", "create", "--name", "elsewhere")  # a store with a key of its own
    full = other.cli("restore", str(file), check=False)
    assert full.returncode == 1 and "not empty" in full.stderr, full.stderr
    junk = tmp_path / "junk.backup"
    junk.write_text("not a database\n" * 100)
    refused = own_server.cli(
        "restore", str(junk), "--database-url", f"sqlite:///{tmp_path / 'x.db'}", check=False
    )
    assert refused.returncode == 1 and "not a Keyhouse backup" in refused.stderr
    assert "Traceback" not in refused.stderr + wrong.stderr + full.stderr


def _rewritten_trail(backup: Path) -> None:
    """Edit an event in a backup file and recompute every hash after it with plain SHA-256,
    as someone holding the file (but not the master key) would."""
    conn = sqlite3.connect(backup)
    try:
        account_id, seq, previous = conn.execute(
            "SELECT account_id, seq, prev_hash FROM audit_events ORDER BY account_id, seq LIMIT 1"
        ).fetchone()
        rows = conn.execute(
            "SELECT seq, body FROM audit_events WHERE account_id = ? ORDER BY seq", (account_id,)
        ).fetchall()
        for n, (seq, body) in enumerate(rows):
            if n == 0:
                body = body.replace('"eventRW":"Write"', '"eventRW":"Read"')
            digest = hashlib.sha256(f"{account_id}\n{seq}\n{previous}\n{body}".encode())
            conn.execute(
                "UPDATE audit_events SET body = ?, prev_hash = ?, hash = ? "
                "WHERE account_id = ? AND seq = ?",
                (body, previous, digest.hexdigest(), account_id, seq),
            )
            previous = digest.hexdigest()
        conn.execute("UPDATE audit_heads SET hash = ? WHERE account_id = ?", (previous, account_id))
        conn.commit()
    finally:
        conn.close()


def test_restore_verifies_the_trail_and_takes_no_session_or_unproven_password(
    own_server: Server, target_url: str, tmp_path: Path
) -> None:
    account = own_server.create_account(f"p{uuid.uuid4().hex[:8]}")
    root = Api("v3", own_server.endpoint, account["AccessKeyId"], account["AccessKeySecret"])
    principal = make_user(root, account, "ann")
    root.ims("CreateLoginProfile", UserPrincipalName=principal, Password="Correct-Horse-9")
    file = tmp_path / "p.backup"
    own_server.cli("backup", str(file))
    # A session planted in the file (as a crafted backup could) is not restored.
    conn = sqlite3.connect(file)
    conn.execute(
        "INSERT INTO console_sessions (token_hash, account_id, user_id, csrf, "
        "must_change_password, created_at, expires_at) VALUES "
        "(?, ?, NULL, 'x', 0, '2026-01-01 00:00:00+00:00', '2099-01-01 00:00:00+00:00')",
        ("f" * 64, account["AccountId"]),
    )
    conn.commit()
    conn.close()
    restored = own_server.cli("restore", str(file), "--database-url", target_url)
    assert "Every audit chain in it was verified." in restored.stdout
    assert "console passwords were not carried over" in restored.stdout
    engine = create_engine(target_url)
    try:
        with engine.connect() as db:
            assert db.scalar(text("SELECT count(*) FROM console_sessions")) == 0
            hashes = db.execute(text("SELECT password_hash FROM login_profiles")).scalars().all()
            assert hashes and all(h.startswith("!") for h in hashes)
    finally:
        engine.dispose()
    # A trail rewritten in the file is refused, and nothing is restored.
    forged = tmp_path / "forged.backup"
    forged.write_bytes(file.read_bytes())
    _rewritten_trail(forged)
    elsewhere = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    refused = own_server.cli("restore", str(forged), "--database-url", elsewhere, check=False)
    assert refused.returncode == 1 and "does not verify" in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr
    check = create_engine(elsewhere)
    try:
        with check.connect() as db:
            assert db.scalar(text("SELECT count(*) FROM accounts")) == 0
    finally:
        check.dispose()
    # With --keep-passwords, the operator vouches for the file: the hashes come over.
    kept = f"sqlite:///{tmp_path / 'kept.db'}"
    own_server.cli("restore", str(file), "--database-url", kept, "--keep-passwords")
    again = create_engine(kept)
    try:
        with again.connect() as db:
            hashes = db.execute(text("SELECT password_hash FROM login_profiles")).scalars().all()
            assert hashes and all(h.startswith("$argon2") for h in hashes)
    finally:
        again.dispose()
