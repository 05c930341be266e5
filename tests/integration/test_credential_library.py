"""The vendor's credential library, alibabacloud-credentials, with its RAM-role-ARN provider
pointed at Keyhouse's STS endpoint over HTTPS, driving IMS and STS clients: it assumes the role
itself (a signed GET), refreshes before expiry, and an expired credential is refused.

Time is moved for real processes with libfaketime: the server and the client process both read
one clock file, so 50 minutes pass in a moment on both sides (the server's monotonic clock, which
runs its timers, is left alone). Both backends.
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.certs import certificate
from tests.integration.sdk import Api
from tests.integration.server import Server
from tests.integration.steps import eventually, make_key, make_user
from tests.integration.test_audit import events
from tests.integration.test_sts import doc, trust

ROOT = Path(__file__).resolve().parents[2]


def _libfaketime() -> str:
    """Debian's libfaketime (scripts/test installs it)."""
    found = glob.glob("/usr/lib/*/faketime/libfaketime.so.1")
    assert found, "libfaketime is not installed (apt-get install libfaketime)"
    return found[0]


def _clocked(clock: Path) -> dict[str, str]:
    return {
        "LD_PRELOAD": _libfaketime(),
        "FAKETIME_TIMESTAMP_FILE": str(clock),
        "FAKETIME_NO_CACHE": "1",
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
    }


@pytest.fixture
def clocked(
    backend: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[tuple[Server, Path]]:
    """A server over HTTPS whose wall clock follows the file ``clock`` (an offset like +50m)."""
    workdir = tmp_path_factory.mktemp(f"clocked-{backend}")
    ca, cert, key = certificate(workdir)
    clock = workdir / "clock"
    clock.write_text("+0\n")
    url = (
        f"sqlite:///{workdir / 'k.db'}"
        if backend == "sqlite"
        else request.getfixturevalue("fresh_pg")
    )
    server = Server(
        url,
        workdir / "master.key",
        workdir,
        # The test process signs its own calls with the real time, up to 61 minutes behind.
        extra_env={
            **_clocked(clock),
            "KEYHOUSE_TIMESTAMP_TOLERANCE": "7200",
            "KEYHOUSE_NONCE_WINDOW": "14400",
        },
        extra_args=("--certfile", str(cert), "--keyfile", str(key)),
        ca=ca,
    ).start()
    yield server, clock
    server.stop()


def test_the_credential_library_assumes_refreshes_and_expires(
    clocked: tuple[Server, Path],
) -> None:
    server, clock = clocked
    account = server.create_account("library")
    root = Api(
        "v3", server.endpoint, account["AccessKeyId"], account["AccessKeySecret"], ca=str(server.ca)
    )
    me = account["AccountId"]
    root.ram(
        "CreateRole",
        RoleName="Deployer",
        AssumeRolePolicyDocument=trust(f"acs:ram::{me}:root", **{"sts:ExternalId": "x-42"}),
    )
    root.ram(
        "AttachPolicyToRole",
        RoleName="Deployer",
        PolicyName="AliyunRAMReadOnlyAccess",
        PolicyType="System",
    )
    principal = make_user(root, account, "ci")
    root.ram(
        "AttachPolicyToUser",
        UserName="ci",
        PolicyName="AliyunSTSAssumeRoleAccess",
        PolicyType="System",
    )
    long_term = make_key(root, principal)
    # json.dumps puts spaces in: the library signs a space as "+".
    policy = doc({"Effect": "Allow", "Action": "ram:ListUsers", "Resource": "*"})
    assert " " in policy

    setting = {
        "clock": str(clock),
        "endpoint": server.endpoint,
        "ca": str(server.ca),
        "access_key_id": long_term["AccessKeyId"],
        "access_key_secret": long_term["AccessKeySecret"],
        "role_arn": f"acs:ram::{me}:role/deployer",
        "policy": policy,
        "external_id": "x-42",
    }
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.update(_clocked(clock), SSL_CERT_FILE=str(server.ca), NO_PROXY="*")
    ran = subprocess.run(
        [sys.executable, "-m", "tests.integration.credential_library"],
        input=json.dumps(setting),
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    assert ran.returncode == 0, ran.stderr + server.logs()[-3000:]
    seen: dict[str, Any] = json.loads(ran.stdout.splitlines()[-1])
    at_start, before_expiry, after_expiry = seen["moments"]

    assumed_arn = f"acs:ram::{me}:assumed-role/deployer/library"
    for moment in seen["moments"]:
        assert moment["access_key_id"].startswith("STS.")
        assert moment["identity_type"] == "AssumedRoleUser"
        assert moment["arn"] == assumed_arn
        assert moment["users"] == [principal]
        assert moment["get_user"] == "403 NoPermission"  # the session policy narrows the role
    # 50 minutes in, past the library's refresh time (15 minutes before expiry): a new one.
    assert before_expiry["access_key_id"] != at_start["access_key_id"]
    # 61 minutes in: the first credential is refused; the second, assumed at +50m, is used.
    assert seen["first_after_expiry"] == "400 InvalidSecurityToken.Expired"
    assert after_expiry["access_key_id"] == before_expiry["access_key_id"]

    # The library assumed the role exactly twice, with the long-term key, both in the trail.
    assumed = eventually(lambda: len(found := events(root, EventName="AssumeRole")) == 2 and found)
    assert assumed, events(root, EventName="AssumeRole")
    for event in assumed:
        assert event["userIdentity"]["accessKeyId"] == long_term["AccessKeyId"]
        assert long_term["AccessKeySecret"] not in json.dumps(event)
