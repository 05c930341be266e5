"""HTTPS: ``keyhouse serve --certfile --keyfile``, used by the official SDKs (their default
protocol), with the certificate checked against the CA that signed it."""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration import raw
from tests.integration.certs import certificate
from tests.integration.conftest import upn as upn_of
from tests.integration.server import Server, base_env

IMS, RAM = "2019-08-15", "2015-05-01"


@pytest.fixture(scope="module")
def https(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("https")
    ca, cert, key = certificate(workdir)
    server = Server(
        f"sqlite:///{workdir / 'k.db'}",
        workdir / "master.key",
        workdir,
        extra_args=("--certfile", str(cert), "--keyfile", str(key)),
        ca=ca,
    ).start()
    yield server
    server.stop()


def test_the_official_sdk_calls_over_https(https: Server) -> None:
    from alibabacloud_ims20190815 import models as ims_models
    from alibabacloud_ims20190815.client import Client as Ims
    from alibabacloud_sts20150401.client import Client as Sts
    from alibabacloud_tea_openapi.utils_models import Config
    from darabonba.runtime import RuntimeOptions

    assert https.ca is not None
    account = https.create_account("tls")
    config = Config(
        access_key_id=account["AccessKeyId"],
        access_key_secret=account["AccessKeySecret"],
        endpoint=https.endpoint,
        protocol="https",  # the SDKs' default
    )
    runtime = RuntimeOptions(ca=str(https.ca))
    caller = Sts(config).get_caller_identity_with_options(runtime).body
    assert caller.account_id == account["AccountId"]
    created = Ims(config).create_access_key_with_options(
        ims_models.CreateAccessKeyRequest(), runtime
    )
    listed = Ims(config).list_access_keys_with_options(ims_models.ListAccessKeysRequest(), runtime)
    ids = [k.access_key_id for k in listed.body.access_keys.access_key]
    assert created.body.access_key.access_key_id in ids
    # Plain HTTP on the HTTPS port is not served.
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://{https.endpoint}/healthz", timeout=5)


def _call(
    server: Server, ak: str, sk: str, action: str, version: str, **params: str
) -> dict[str, Any]:
    """A signed RPC call over HTTPS, the certificate checked against the server's CA."""
    context = ssl.create_default_context(cafile=str(server.ca))
    query = raw.rpc_query(ak, sk, action, version, params)
    request = urllib.request.Request(
        f"https://{server.endpoint}/?" + urllib.parse.urlencode(query), method="POST"
    )
    try:
        with urllib.request.urlopen(request, context=context, timeout=10) as reply:
            return json.loads(reply.read())  # type: ignore[no-any-return]
    except urllib.error.HTTPError as refused:
        return json.loads(refused.read())  # type: ignore[no-any-return]


def test_a_request_over_https_counts_as_secure_transport(https: Server) -> None:
    """A policy that allows ListUsers over a secure transport only lets the user list over
    TLS (over plain HTTP, the same policy refuses: test_hardening)."""
    account = https.create_account("secure")
    ak, sk = account["AccessKeyId"], account["AccessKeySecret"]
    upn = upn_of(account, "tls")
    _call(https, ak, sk, "CreateUser", IMS, UserPrincipalName=upn, DisplayName="tls")
    key = _call(https, ak, sk, "CreateAccessKey", IMS, UserPrincipalName=upn)["AccessKey"]
    document = {
        "Version": "1",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "ram:ListUsers",
                "Resource": "*",
                "Condition": {"Bool": {"acs:SecureTransport": "true"}},
            }
        ],
    }
    _call(https, ak, sk, "CreatePolicy", RAM, PolicyName="tls", PolicyDocument=json.dumps(document))
    _call(
        https,
        ak,
        sk,
        "AttachPolicyToUser",
        RAM,
        PolicyType="Custom",
        PolicyName="tls",
        UserName="tls",
    )
    listed = _call(https, key["AccessKeyId"], key["AccessKeySecret"], "ListUsers", IMS)
    assert "Code" not in listed, listed
    assert [u["UserPrincipalName"] for u in listed["Users"]["User"]] == [upn]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--certfile", "cert.pem"), "needs --keyfile"),
        (("--certfile", "missing.pem", "--keyfile", "key.pem"), "cannot use"),
        (("--certfile", "key.pem", "--keyfile", "key.pem"), "cannot use"),
    ],
)
def test_unusable_certificate_settings_are_refused_before_serving(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    certificate(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "keyhouse", "serve", "--port", "1", *args],
        cwd=tmp_path,
        env=base_env(f"sqlite:///{tmp_path / 'k.db'}", tmp_path / "k.key"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert message in result.stderr, result.stderr
    assert not (tmp_path / "k.db").exists()  # refused before anything was created
