"""The documented nginx deployment (deploy/nginx/keyhouse.conf), run for real in front of two
instances on one PostgreSQL store."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tests.integration import raw
from tests.integration.sdk import Api
from tests.integration.server import Server, free_port
from tests.integration.steps import disable, make_key, make_user

CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "nginx" / "keyhouse.conf"


@pytest.fixture
def balanced(fresh_pg: str, tmp_path: Path) -> Iterator[tuple[str, list[Server]]]:
    nginx = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if nginx is None:
        if os.environ.get("CI"):
            pytest.fail("nginx is required in CI (scripts/test installs it)")
        pytest.skip("nginx is not installed")
    instances = [Server(fresh_pg, tmp_path / "master.key", tmp_path).start() for _ in range(2)]
    port = free_port()
    conf = (
        CONFIG.read_text()
        .replace("127.0.0.1:8081", instances[0].endpoint)
        .replace("127.0.0.1:8082", instances[1].endpoint)
        .replace("listen 127.0.0.1:8080", f"listen 127.0.0.1:{port}")
    )
    prefix = tmp_path / "nginx"
    (prefix / "tmp").mkdir(parents=True)
    (prefix / "nginx.conf").write_text(conf)
    with (prefix / "error.log").open("wb") as log:
        proc = subprocess.Popen(
            [nginx, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-g", "daemon off;"],
            stderr=log,
        )
    endpoint = f"127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://{endpoint}/healthz", timeout=1):
                break
        except OSError:
            time.sleep(0.1)
    yield endpoint, instances
    proc.terminate()
    proc.wait(timeout=10)
    for instance in instances:
        instance.stop()


def test_sdks_work_through_the_load_balancer(balanced: tuple[str, list[Server]]) -> None:
    endpoint, instances = balanced
    ak, sk = instances[0].bootstrap_credentials()
    account = {"AccountName": "default", "AccessKeyId": ak, "AccessKeySecret": sk}
    for flavour in ("v3", "v2", "legacy"):
        api = Api(flavour, endpoint, ak, sk)
        principal = make_user(api, account, f"lb{flavour}")
        key = make_key(api, principal)
        user = Api(flavour, endpoint, key["AccessKeyId"], key["AccessKeySecret"])
        for _ in range(4):  # round robin: both instances answer
            assert user.sts("GetCallerIdentity")["IdentityType"] == "RAMUser"
        disable(api, principal, key["AccessKeyId"])
        for _ in range(2):
            status, body = raw.post_rpc(
                endpoint,
                raw.rpc_query(
                    key["AccessKeyId"], key["AccessKeySecret"], "GetCallerIdentity", "2015-04-01"
                ),
            )
            assert (status, body["Code"]) == (400, "InvalidAccessKeyId.Inactive")
    served = [i.stderr_path.read_text().count("GetCallerIdentity status=200") for i in instances]
    assert all(served), f"requests per instance: {served}"


def test_long_queries_pass_the_load_balancer(balanced: tuple[str, list[Server]]) -> None:
    endpoint, instances = balanced
    ak, sk = instances[0].bootstrap_credentials()
    document = '{"Statement":[' + ",".join(['{"Action":"ram:*","Resource":"*"}'] * 600) + "]}"
    query = raw.rpc_query(ak, sk, "GetDefaultDomain", "2019-08-15", {"PolicyDocument": document})
    assert len(urlencode(query)) > 36 * 1024
    status, body = raw.post_rpc(endpoint, query)
    assert (status, body["DefaultDomainName"]) == (200, "default.onaliyun.com")


def test_the_service_survives_losing_an_instance(balanced: tuple[str, list[Server]]) -> None:
    endpoint, instances = balanced
    ak, sk = instances[0].bootstrap_credentials()
    instances[1].kill()
    api = Api("v3", endpoint, ak, sk)
    for _ in range(6):
        assert api.sts("GetCallerIdentity")["IdentityType"] == "Account"
