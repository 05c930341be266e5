"""The ``keyhouse`` command as a new user meets it: no store made by accident, one-line
errors, configuration that refuses what it cannot read, and the operator's account commands."""

from __future__ import annotations

import json
import socket
import stat
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.integration.sdk import Api
from tests.integration.server import Server, base_env, free_port
from tests.integration.steps import make_key, make_user


def keyhouse(
    cwd: Path, *args: str, env: dict[str, str] | None = None, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """The real command in ``cwd`` with no KEYHOUSE_* variables unless given."""
    clean = base_env("sqlite:///unused.db", cwd / "unused.key")
    for name in ("KEYHOUSE_DATABASE_URL", "KEYHOUSE_MASTER_KEY_FILE"):
        clean.pop(name)
    clean.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "keyhouse", *args],
        cwd=cwd,
        env=clean,
        capture_output=True,
        text=True,
        input=input,
        timeout=120,
    )


@pytest.mark.parametrize(
    "args",
    [
        ("whois", "LTAI" + "a" * 20),
        ("audit", "verify"),
        ("key", "attempts", "LTAI" + "a" * 20),
        ("account", "list"),
        ("purge",),
        ("account", "set-password", "--name", "default"),
    ],
)
def test_commands_other_than_serve_and_create_never_create_a_store(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    result = keyhouse(tmp_path, *args, input="Passw0rd-long\n")
    assert result.returncode == 2, result.stderr
    expected = f"keyhouse: no store at sqlite:///{tmp_path.resolve() / 'keyhouse.db'}\n"
    assert result.stderr == expected
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (("whois", "x", "--database-url", "sqlite://relative.db"), "--database-url"),
        (("whois", "x", "--database-url", "sqlite:///:memory:"), "--database-url"),
        (("whois", "x", "--database-url", "mysql://root@localhost/k"), "--database-url"),
        (("store", "copy", "--to", "mysql://root@localhost/k"), "--to"),
    ],
)
def test_bad_urls_get_one_line_naming_the_flag(
    tmp_path: Path, args: tuple[str, ...], flag: str
) -> None:
    if args[0] == "store":
        assert keyhouse(tmp_path, "account", "create", "--name", "src").returncode == 0
    result = keyhouse(tmp_path, *args)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"keyhouse: {flag}: ") and result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("value", ["flase", "2", "enabled"])
def test_an_unreadable_boolean_setting_is_a_configuration_error(tmp_path: Path, value: str) -> None:
    result = keyhouse(tmp_path, "serve", "--port", str(free_port()), env={"KEYHOUSE_AUDIT": value})
    assert result.returncode == 2
    assert result.stderr.startswith("keyhouse: KEYHOUSE_AUDIT: ") and "boolean" in result.stderr
    assert not (tmp_path / "keyhouse.db").exists()


def test_a_port_in_use_is_its_own_exit_code_and_creates_nothing(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = keyhouse(tmp_path, "serve", "--port", str(port))
    assert result.returncode == 5, result.stderr
    assert f"127.0.0.1:{port}" in result.stderr and result.stderr.count("\n") == 1
    assert not (tmp_path / "keyhouse.db").exists()
    assert "AccessKeySecret" not in result.stdout


def test_first_start_prints_the_console_url_and_keeps_the_store_private(tmp_path: Path) -> None:
    srv = Server(f"sqlite:///{tmp_path / 'k.db'}", tmp_path / "master.key", tmp_path).start()
    try:
        Api("v3", srv.endpoint, *srv.bootstrap_credentials()).ims("ListUsers")
        printed = srv.stdout_path.read_text()
        assert f"http://127.0.0.1:{srv.port}/console" in printed
        assert "alembic" not in srv.stderr_path.read_text()
        files = [p for p in tmp_path.iterdir() if p.name.startswith("k.db")]
        assert {p.name for p in files} >= {"k.db", "k.db-wal", "k.db-shm"}
        for path in files:
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    finally:
        srv.stop()


def test_operator_account_commands(server: Server, account: dict[str, Any]) -> None:
    name = account["AccountName"]
    listed = [
        json.loads(line) for line in server.cli("account", "list", "--json").stdout.splitlines()
    ]
    assert name in [a["AccountName"] for a in listed]
    shown = json.loads(server.cli("account", "show", "--name", name, "--json").stdout)
    assert shown["KeyDeletion"] == "recycle-bin"
    assert [k["AccessKeyId"] for k in shown["RootAccessKeys"]] == [account["AccessKeyId"]]
    assert "AccessKeySecret" not in json.dumps(shown)
    # update without --key-deletion changes nothing
    server.cli("account", "update", "--name", name, "--key-deletion", "immediate")
    out = server.cli("account", "update", "--name", name).stdout
    assert "nothing changed" in out
    shown = json.loads(server.cli("account", "show", "--name", name, "--json").stdout)
    assert shown["KeyDeletion"] == "immediate"
    # a lost root secret: the operator gives the account a new root pair
    fresh = json.loads(server.cli("account", "new-root-key", "--name", name, "--json").stdout)
    api = Api("v3", server.endpoint, fresh["AccessKeyId"], fresh["AccessKeySecret"])
    assert api.sts("GetCallerIdentity")["IdentityType"] == "Account"
    missing = server.cli("account", "show", "--name", f"no{uuid.uuid4().hex[:8]}", check=False)
    assert missing.returncode == 1 and "no account named" in missing.stderr


def test_unknown_keys_are_said_to_be_unknown(
    server: Server, account: dict[str, Any], tmp_path: Path
) -> None:
    unknown = "LTAI" + uuid.uuid4().hex[:20]
    policy = tmp_path / "p.json"
    policy.write_text(
        json.dumps(
            {
                "Version": 1,
                "Status": "Active",
                "Statements": [{"Type": "ClassicWhiteList", "IPList": ["10.0.0.0/8"]}],
            }
        )
    )
    for args in (
        ("key", "attempts", unknown),
        ("acl", "simulate", unknown, "--policy", str(policy)),
        ("whois", unknown),
    ):
        result = server.cli(*args, check=False)
        assert result.returncode == 1, args
        assert f"{unknown} is unknown to {server.database_url.split('://')[0]}" in result.stderr
    root = Api("v3", server.endpoint, account["AccessKeyId"], account["AccessKeySecret"])
    known = make_key(root, make_user(root, account, "kim"))["AccessKeyId"]
    assert server.cli("key", "attempts", known).returncode == 0


def test_the_operator_scripts_the_user_and_key_lifecycle(
    server: Server, account: dict[str, Any]
) -> None:
    """``keyhouse user`` and ``keyhouse key``: each command through the use-cases, each one
    operator event in the account's trail; a restored pair signs with its old secret."""
    from tests.integration.steps import events

    name = account["AccountName"]
    root = Api("v3", server.endpoint, account["AccessKeyId"], account["AccessKeySecret"])

    def cli(*args: str, check: bool = True) -> str:
        return server.cli(*args, check=check).stdout

    def pair() -> tuple[str, str]:
        out = cli("key", "create", "--account", name, "--user", "ops")
        fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
        return fields["AccessKeyId"].strip(), fields["AccessKeySecret"].strip()

    created = json.loads(cli("user", "create", "--account", name, "--user", "ops"))
    assert created["UserName"] == "ops"
    listed = [json.loads(x) for x in cli("user", "list", "--account", name, "--json").splitlines()]
    assert [u["UserName"] for u in listed] == ["ops"]
    ak, sk = pair()
    assert Api("v3", server.endpoint, ak, sk).sts("GetCallerIdentity")["IdentityType"] == "RAMUser"
    keys = cli("key", "list", "--account", name, "--user", "ops", "--json").splitlines()
    assert [json.loads(k)["AccessKeyId"] for k in keys] == [ak]
    assert sk not in cli("key", "list", "--account", name, "--user", "ops")
    # Active pairs are not deleted; disabled, into the bin; restored with the same secret.
    assert server.cli("key", "delete", ak, check=False).returncode != 0
    cli("key", "disable", ak)
    cli("key", "delete", ak)
    binned = cli("key", "list", "--account", name, "--user", "ops", "--bin", "--json")
    assert json.loads(binned)["AccessKeyId"] == ak
    cli("key", "restore", ak)
    assert Api("v3", server.endpoint, ak, sk).sts("GetCallerIdentity")["IdentityType"] == "RAMUser"
    cli("key", "disable", ak)
    cli("key", "delete", ak)
    cli("key", "purge", ak)
    assert server.cli("key", "restore", ak, check=False).returncode != 0
    # The user: into the bin (its pairs disabled first), back, and gone for good.
    other, _ = pair()
    cli("key", "disable", other)
    shown = json.loads(cli("user", "show", "--account", name, "--user", "ops", "--json"))
    assert [k["Status"] for k in shown["AccessKeys"]] == ["Inactive"]
    cli("user", "delete", "--account", name, "--user", "ops")
    in_bin = cli("user", "list", "--account", name, "--bin", "--json").splitlines()
    assert [json.loads(u)["UserName"] for u in in_bin] == ["ops"]
    cli("user", "restore", "--account", name, "--user", "ops")
    cli("user", "delete", "--account", name, "--user", "ops")
    assert "gone for good" in cli("user", "purge", "--account", name, "--user", "ops")
    # One operator event per command (the refused delete too); the fixture made the account.
    by_operator: dict[str, int] = {}
    for event in events(root):
        if event["userIdentity"]["type"] == "operator":
            by_operator[event["eventName"]] = by_operator.get(event["eventName"], 0) + 1
    assert by_operator == {
        "CreateAccount": 1,
        "CreateUser": 1,
        "ListUsers": 1,
        "CreateAccessKey": 2,
        "ListAccessKeys": 2,
        "UpdateAccessKey": 3,
        "DeleteAccessKey": 3,
        "ListAccessKeysInRecycleBin": 1,
        "RestoreAccessKeyFromRecycleBin": 1,
        "DeleteAccessKeyInRecycleBin": 1,
        "GetUser": 1,
        "DeleteUser": 2,
        "ListUsersInRecycleBin": 1,
        "RestoreUserFromRecycleBin": 1,
        "DeleteUserInRecycleBin": 1,
    }, by_operator
