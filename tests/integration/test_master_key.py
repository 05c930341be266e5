"""``keyhouse master-key rotate`` while a server verifies requests and creates pairs: not one
verification fails, every secret ends up sealed under the new key, the old key is retired, and
every pair still verifies, also after a restart with only the new key. Both backends."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from typing import Any

from keyhouse.crypto import MasterKey, read_key_file, write_key_file
from tests.integration import raw
from tests.integration.sdk import Api, ApiError
from tests.integration.server import Server
from tests.integration.steps import bin_key, eventually, make_key, make_user, user_id_of
from tests.integration.test_sts import assumer, temporary, trust

STS = "2015-04-01"


class Verifying(threading.Thread):
    """Signs GetCallerIdentity with each pair in turn until stopped; every refusal kept."""

    def __init__(self, server: Server, keys: list[dict[str, Any]]) -> None:
        super().__init__(daemon=True)
        self.server, self.keys = server, keys
        self.failures: list[tuple[str, int, str]] = []
        self.verified = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            for key in list(self.keys):
                status, body = raw.call_rpc(self.server.endpoint, key, "GetCallerIdentity", STS)
                if status != 200:
                    self.failures.append((key["AccessKeyId"], status, body.get("Code", "")))
                self.verified += 1


class Churning(threading.Thread):
    """Creates a pair, uses it, bins it, over and over: new secrets sealed during rotation
    (the bin keeps the last three)."""

    def __init__(self, server: Server, root: Api, principal: str) -> None:
        super().__init__(daemon=True)
        self.server, self.root, self.principal = server, root, principal
        self.failures: list[tuple[str, int, str]] = []
        self.made: list[dict[str, Any]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                key = make_key(self.root, self.principal)
                status, body = raw.call_rpc(self.server.endpoint, key, "GetCallerIdentity", STS)
                if status != 200:
                    self.failures.append((key["AccessKeyId"], status, body.get("Code", "")))
                self.made.append(key)
                bin_key(self.root, self.principal, key["AccessKeyId"])
            except ApiError as exc:
                self.failures.append(("", exc.status, exc.code))


def _verify_all(server: Server, keys: list[dict[str, Any]]) -> list[tuple[str, int]]:
    refused = []
    for key in keys:
        status, _ = raw.call_rpc(server.endpoint, key, "GetCallerIdentity", STS)
        if status != 200:
            refused.append((key["AccessKeyId"], status))
    return refused


def test_rotation_under_load_refuses_no_request(own_server: Server) -> None:
    account = own_server.create_account("rotating")
    root = Api("v3", own_server.endpoint, account["AccessKeyId"], account["AccessKeySecret"])
    keys = [account]
    for i in range(6):
        principal = make_user(root, account, f"u{i}")
        keys += [make_key(root, principal), make_key(root, principal)]
    churner_principal = make_user(root, account, "churn")
    before = own_server.cli("master-key", "status").stdout.split()[0]

    verifying = Verifying(own_server, keys)
    churning = Churning(own_server, root, churner_principal)
    verifying.start()
    churning.start()
    time.sleep(0.5)
    started = verifying.verified
    rotated = own_server.cli("master-key", "rotate", "--batch", "3")
    during = verifying.verified - started
    verifying.stop.set()
    churning.stop.set()
    verifying.join(30)
    churning.join(30)

    refused = len(verifying.failures) + len(churning.failures)
    print(f"rotation: {during} verified, {len(churning.made)} pairs made, {refused} refused")
    assert verifying.failures == [] and churning.failures == []
    assert during > 50, "the load did not run during the rotation"
    assert "re-sealed" in rotated.stdout
    status = own_server.cli("master-key", "status").stdout
    new = status.split()[0]
    assert new != before
    assert f"{before}  0 secrets  (opens)" in status
    assert "(seals and opens)" in status.splitlines()[0]

    own_server.cli("master-key", "retire", before)
    assert before not in own_server.key_file.read_text()
    time.sleep(1.5)  # the server follows the file within a second
    assert len(churning.made) > 3
    assert _verify_all(own_server, keys) == []
    # A pair sealed during the rotation, restored from the bin: it verifies with its secret.
    last = churning.made[-1]
    churner = user_id_of(root, churner_principal)
    root.ims("RestoreAccessKeyFromRecycleBin", UserId=churner, UserAccessKeyId=last["AccessKeyId"])
    live = [*keys, last]
    assert _verify_all(own_server, live) == []
    assert own_server.logs().count("master keyring reloaded") == 2  # rotated, then retired

    own_server.stop()
    own_server.start()  # only the new key now
    assert _verify_all(own_server, live) == []


def test_a_key_added_by_hand_is_retired_only_after_reseal(own_server: Server) -> None:
    account = own_server.create_account("retiring")
    old = read_key_file(own_server.key_file)
    assert old
    refused = own_server.cli("master-key", "retire", old[0].key_id, check=False)
    assert refused.returncode == 1 and "sealing key" in refused.stderr
    new = MasterKey.generate()
    write_key_file(own_server.key_file, [new, *old])  # what an operator may do by hand
    refused = own_server.cli("master-key", "retire", old[0].key_id, check=False)
    assert refused.returncode == 1 and "run reseal" in refused.stderr
    # The default account's root pair and this one's, and the audit trail's chain key.
    assert "re-sealed 3 secrets" in own_server.cli("master-key", "reseal").stdout
    own_server.cli("master-key", "retire", old[0].key_id)
    assert read_key_file(own_server.key_file) == [new]
    time.sleep(1.5)
    status, _ = raw.call_rpc(own_server.endpoint, account, "GetCallerIdentity", STS)
    assert status == 200
    unknown = own_server.cli("master-key", "retire", "nosuchkey", check=False)
    assert unknown.returncode == 1 and "no master key nosuchkey" in unknown.stderr


def test_rotation_refuses_a_keyring_from_the_environment(own_server: Server) -> None:
    own_server.create_account("env")
    keyring = own_server.key_file.read_text().strip()
    env = {**own_server.env(), "KEYHOUSE_MASTER_KEY": keyring}
    ran = subprocess.run(
        [sys.executable, "-m", "keyhouse", "master-key", "rotate"],
        cwd=own_server.workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ran.returncode == 2 and "KEYHOUSE_MASTER_KEY" in ran.stderr
    assert own_server.key_file.read_text().strip() == keyring


def test_retire_refuses_while_sessions_it_sealed_are_live_and_a_forced_retire_ends_them(
    own_server: Server,
) -> None:
    account = own_server.create_account("sessions")
    root = Api("v3", own_server.endpoint, account["AccessKeyId"], account["AccessKeySecret"])
    me = root.sts("GetCallerIdentity")["AccountId"]
    root.ram("CreateRole", RoleName="Reader", AssumeRolePolicyDocument=trust(f"acs:ram::{me}:root"))
    dev = assumer(own_server, root, account)
    arn = f"acs:ram::{me}:role/reader"
    used_reply = dev.sts("AssumeRole", RoleArn=arn, RoleSessionName="used")
    used = temporary(own_server, used_reply)
    unused = temporary(own_server, dev.sts("AssumeRole", RoleArn=arn, RoleSessionName="idle"))
    assert used.sts("GetCallerIdentity")["IdentityType"] == "AssumedRoleUser"  # now cached
    old = own_server.cli("master-key", "status").stdout.split()[0]
    own_server.cli("master-key", "rotate")
    # The stored secrets are re-sealed, but the two sessions' tokens still need the old key.
    refused = own_server.cli("master-key", "retire", old, check=False)
    assert refused.returncode == 1, refused.stdout
    assert f"2 temporary credentials sealed under {old} may be live until" in refused.stderr
    assert old in own_server.key_file.read_text()
    assert used.sts("GetCallerIdentity")
    forced = own_server.cli("master-key", "retire", old, "--force")
    assert "ended 2 temporary credentials" in forced.stdout
    # Every server ends them within a second, the one it had opened before as well.
    for session in (used, unused):
        error = eventually(lambda s=session: _refusal(s), 5)
        assert error is not None and error.code == "InvalidSecurityToken.Expired", error
        assert "retired" in error.message
    # A new session, sealed under the new key, works; after a restart the old ones stay ended.
    fresh_reply = dev.sts("AssumeRole", RoleArn=arn, RoleSessionName="new")
    assert temporary(own_server, fresh_reply).sts("GetCallerIdentity")
    own_server.stop()
    own_server.start()  # on another port
    after = _refusal(temporary(own_server, used_reply))
    assert after is not None and after.code == "InvalidSecurityToken.Expired"
    assert temporary(own_server, fresh_reply).sts("GetCallerIdentity")


def _refusal(api: Api) -> ApiError | None:
    try:
        api.sts("GetCallerIdentity")
    except ApiError as exc:
        return exc
    return None
