"""Secrets at rest and in logs, the master key, the retention sweep, several instances."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.conftest import PG_ADMIN
from tests.integration import raw
from tests.integration.conftest import as_user, expect_error, upn
from tests.integration.sdk import Api
from tests.integration.server import Server
from tests.integration.steps import bin_key, make_key, make_user


def _dump(server: Server) -> bytes:
    """Every byte the store holds: the SQLite files, or every PostgreSQL row as text."""
    url = server.database_url
    if url.startswith("sqlite"):
        path = Path(url.removeprefix("sqlite:///"))
        with sqlite3.connect(path) as conn:  # make sure nothing hides in an unread WAL page
            conn.execute("PRAGMA wal_checkpoint(FULL)")
        return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    chunks = []
    with psycopg.connect(dsn) as conn:
        tables = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
        for (table,) in tables:
            for row in conn.execute(f'SELECT t::text FROM "{table}" t'):
                chunks.append(row[0].encode())
    return b"\n".join(chunks)


def test_secrets_never_appear_in_the_database_or_the_logs(
    server: Server, root: Api, account: dict[str, Any]
) -> None:
    secrets = [account["AccessKeySecret"]]
    for name in ("s1", "s2"):
        root.ims("CreateUser", UserPrincipalName=upn(account, name), DisplayName=name)
        for _ in range(2):
            key = root.ims("CreateAccessKey", UserPrincipalName=upn(account, name))["AccessKey"]
            secrets.append(key["AccessKeySecret"])
            user = as_user(server, "v2", {"AccessKey": key})
            user.sts("GetCallerIdentity")
            Api("legacy", server.endpoint, key["AccessKeyId"], key["AccessKeySecret"]).sts(
                "GetCallerIdentity"
            )
            expect_error("NoPermission", 403, user.ims, "ListUsers")
    root.ims(
        "UpdateAccessKey",
        UserPrincipalName=upn(account, "s1"),
        UserAccessKeyId=root.ims("ListAccessKeys", UserPrincipalName=upn(account, "s1"))[
            "AccessKeys"
        ]["AccessKey"][0]["AccessKeyId"],
        Status="Inactive",
    )
    stored = _dump(server)
    assert account["AccessKeyId"].encode() in stored  # the dump does contain the store
    logs = server.logs().replace(*server.bootstrap_credentials())  # the one intended display
    for secret in secrets:
        assert secret.encode() not in stored
        assert secret not in logs
    assert "ListUsers" in logs  # the log does record requests


def test_every_command_refuses_a_store_whose_master_key_is_missing_or_wrong(
    server: Server, account: dict[str, Any], tmp_path: Path
) -> None:
    lost = Server(server.database_url, tmp_path / "absent.key", tmp_path)
    result = lost.cli("purge", check=False)
    assert result.returncode == 3
    assert "no master key" in result.stderr
    assert not (tmp_path / "absent.key").exists(), (
        "a key must not be invented for a store with secrets"
    )
    wrong = Server(
        server.database_url,
        tmp_path / "absent.key",
        tmp_path,
        extra_env={"KEYHOUSE_MASTER_KEY": "k1:" + "A" * 43 + "="},
    )
    result = wrong.cli("account", "create", "--name", "never", "--json", check=False)
    assert result.returncode == 3
    assert "does not open" in result.stderr or "no master key with id" in result.stderr
    with pytest.raises(RuntimeError, match="refusing to run"):
        wrong.start(timeout=20)


def test_master_key_file_is_created_with_mode_0600(server: Server) -> None:
    assert server.key_file.stat().st_mode & 0o777 == 0o600


def test_retention_sweep_purges_what_passed_its_delete_date(
    server: Server, root: Api, account: dict[str, Any]
) -> None:
    principal = make_user(root, account, "keep")
    key = make_key(root, principal)["AccessKeyId"]
    bin_key(root, principal, key)
    make_user(root, account, "gone")
    gone_id = root.ims("GetUser", UserPrincipalName=upn(account, "gone"))["User"]["UserId"]
    root.ims("DeleteUser", UserId=gone_id)

    soon = (datetime.now(UTC) + timedelta(days=29)).strftime("%Y-%m-%dT%H:%M:%SZ")
    early = server.cli("purge", "--as-of", soon).stdout
    assert key not in early and gone_id not in early
    assert (
        root.ims("GetAccessKeyInfoInRecycleBin", UserAccessKeyId=key)["AccessKey"]["AccessKeyId"]
        == key
    )

    later = (datetime.now(UTC) + timedelta(days=31)).strftime("%Y-%m-%dT%H:%M:%SZ")
    # A sweep as of a future time only lists what it would purge, unless told --yes.
    preview = server.cli("purge", "--as-of", later).stdout
    assert f"AccessKey {key}" in preview and "nothing was purged" in preview
    assert root.ims("GetAccessKeyInfoInRecycleBin", UserAccessKeyId=key)["AccessKey"]
    out = server.cli("purge", "--as-of", later, "--yes").stdout
    assert f"AccessKey {key}" in out
    assert f"User {gone_id}" in out
    expect_error(
        "EntityNotExist.User.AccessKey",
        404,
        root.ims,
        "GetAccessKeyInfoInRecycleBin",
        UserAccessKeyId=key,
    )
    expect_error("EntityNotExist.User", 404, root.ims, "GetUserInRecycleBin", UserId=gone_id)
    again = server.cli("purge", "--as-of", later, "--yes").stdout
    assert key not in again and gone_id not in again  # idempotent
    # The purge's events carry the time they were written, never the future --as-of.
    exported = server.cli("audit", "export", "--since", "2000-01-01T00:00:00Z").stdout
    purges = [
        json.loads(line)
        for line in exported.splitlines()
        if key in line and "PurgeAccessKeysFromRecycleBin" in line
    ]
    assert purges and all(
        e["eventTime"] <= datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") for e in purges
    )
    assert root.ims("GetUser", UserPrincipalName=upn(account, "keep"))["User"]["UserName"] == "keep"


def test_purge_rejects_a_malformed_time(server: Server) -> None:
    result = server.cli("purge", "--as-of", "next tuesday", check=False)
    assert result.returncode == 2
    assert "UTC time" in result.stderr


def test_account_create_refuses_a_duplicate_name(server: Server, account: dict[str, Any]) -> None:
    result = server.cli(
        "account", "create", "--name", account["AccountName"], "--json", check=False
    )
    assert result.returncode == 1
    assert "already exists" in result.stderr
    assert result.stdout == ""


def test_a_nonce_used_through_one_instance_is_refused_by_another(
    server: Server, account: dict[str, Any], backend: str
) -> None:
    if backend != "postgres":
        pytest.skip("several instances share one store on PostgreSQL")
    second = Server(server.database_url, server.key_file, server.workdir).start()
    try:
        query = raw.rpc_query(
            account["AccessKeyId"], account["AccessKeySecret"], "GetCallerIdentity", "2015-04-01"
        )
        assert raw.post_rpc(server.endpoint, query)[0] == 200
        status, body = raw.post_rpc(second.endpoint, query)
        assert (status, body["Code"]) == (400, "SignatureNonceUsed")
    finally:
        second.stop()


def test_store_copy_moves_a_sqlite_store_to_postgresql(tmp_path: Path, pg_database: str) -> None:
    source = Server(f"sqlite:///{tmp_path / 'k.db'}", tmp_path / "k.key", tmp_path).start()
    try:
        ak, sk = source.bootstrap_credentials()
        root = Api("v3", source.endpoint, ak, sk)
        root.ims("CreateUser", UserPrincipalName="mover@default.onaliyun.com", DisplayName="M")
        key = root.ims("CreateAccessKey", UserPrincipalName="mover@default.onaliyun.com")[
            "AccessKey"
        ]
    finally:
        source.stop()
    target_url = pg_database + "_copy"
    admin = PG_ADMIN
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{target_url.rsplit("/", 1)[1]}"')
    try:
        out = source.cli("store", "copy", "--to", target_url).stdout
        assert "access_keys: 2 rows" in out and "users: 1 rows" in out
        again = source.cli("store", "copy", "--to", target_url, check=False)
        assert again.returncode == 1 and "already has rows" in again.stderr
        moved = Server(target_url, tmp_path / "k.key", tmp_path).start()
        try:
            assert "AccessKeySecret" not in moved.stdout_path.read_text()  # not an empty store
            mover = Api("v2", moved.endpoint, key["AccessKeyId"], key["AccessKeySecret"])
            assert mover.sts("GetCallerIdentity")["Arn"].endswith(":user/mover")
        finally:
            moved.stop()
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            name = target_url.rsplit("/", 1)[1]
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
            )
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


def test_commands_report_an_unreachable_store_without_a_traceback(tmp_path: Path) -> None:
    nowhere = Server("postgresql+psycopg://postgres@127.0.0.1:1/none", tmp_path / "k", tmp_path)
    for args in (("purge",), ("account", "create", "--name", "x")):
        result = nowhere.cli(*args, check=False)
        assert result.returncode == 4
        assert result.stderr.startswith("keyhouse: cannot reach the store:")
        assert "Traceback" not in result.stderr


def test_the_server_sweeps_by_itself_on_its_interval(
    server: Server, root: Api, account: dict[str, Any]
) -> None:
    import time

    from sqlalchemy import create_engine, text

    principal = make_user(root, account, "swept")
    key = make_key(root, principal)["AccessKeyId"]
    bin_key(root, principal, key)
    fast = Server(
        server.database_url,
        server.key_file,
        server.workdir,
        extra_env={"KEYHOUSE_SWEEP_INTERVAL": "1"},
    ).start()
    engine = create_engine(server.database_url)
    try:
        with engine.begin() as conn:  # as if 30 days had passed for this one key
            conn.execute(
                text("UPDATE access_keys SET delete_at = :past WHERE access_key_id = :key"),
                {"past": datetime.now(UTC) - timedelta(minutes=1), "key": key},
            )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                left = conn.execute(
                    text("SELECT count(*) FROM access_keys WHERE access_key_id = :key"),
                    {"key": key},
                ).scalar()
            if left == 0:
                break
            time.sleep(0.2)
        assert left == 0, "the server's own sweep did not purge an expired key"
        # The sweep goes on after the purge (nonces, audit retention) before it logs its end.
        while "sweep finished holder=" not in fast.logs() and time.monotonic() < deadline + 10:
            time.sleep(0.2)
        assert "sweep finished holder=" in fast.logs()
    finally:
        engine.dispose()
        fast.stop()
