"""What the tests of protected services share: a small real upstream API, the official SDK's
generic call to it, and a world (a service, a gateway, callers) set up through Keyhouse's API."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.integration.sdk import Api
from tests.integration.steps import make_key, make_user

VERSION = "2024-01-01"
ROUTES = [
    {
        "Method": "GET",
        "Path": "/orders/{id}",
        "Action": "orders:GetOrder",
        "Resource": "acs:orders:*:${account}:order/{id}",
    },
    {
        "Method": "POST",
        "Path": "/orders",
        "Action": "orders:CreateOrder",
        "Resource": "acs:orders:*:${account}:order/*",
    },
    # The action from the signed x-acs-action header, one of the service's Actions.
    {"Method": "POST", "Path": "/rpc", "Resource": "acs:orders:*:${account}:rpc"},
]
ACTIONS = ["Ping"]


class _Echo(BaseHTTPRequestHandler):
    """The protected API: says what it was asked and what the gateway told it."""

    protocol_version = "HTTP/1.1"

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        seen = {
            "method": self.command,
            "path": self.path,
            "body": body.decode("utf-8", "replace"),
            "keyhouse": {
                k.lower(): v for k, v in self.headers.items() if k.lower().startswith("x-keyhouse-")
            },
        }
        payload = json.dumps(seen).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def upstream() -> Iterator[str]:
    """The API on a free loopback port, until the block ends."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def sdk_call(
    endpoint: str,
    ak: str,
    secret: str,
    method: str,
    path: str,
    *,
    action: str = "GetOrder",
    token: str | None = None,
    body: Any = None,
) -> tuple[int, Any]:
    """The vendor's generic call (tea-openapi ``call_api``, ACS3-HMAC-SHA256) to the team's own
    API: (status, the API's JSON) or (status, the refusal's Code). A temporary credential
    goes through alibabacloud-credentials, as an application's would."""
    from alibabacloud_credentials.client import Client as Credentials
    from alibabacloud_credentials.models import Config as CredentialConfig
    from alibabacloud_tea_openapi.client import Client
    from alibabacloud_tea_openapi.exceptions import AlibabaCloudException
    from alibabacloud_tea_openapi.utils_models import Config, OpenApiRequest, Params
    from darabonba.runtime import RuntimeOptions

    if token is None:
        config = Config(access_key_id=ak, access_key_secret=secret)
    else:
        credential = Credentials(
            CredentialConfig(
                type="sts", access_key_id=ak, access_key_secret=secret, security_token=token
            )
        )
        config = Config(credential=credential)
    config.endpoint, config.protocol = endpoint, "http"
    config.read_timeout, config.connect_timeout = 30000, 5000
    params = Params(
        action=action,
        version=VERSION,
        protocol="HTTP",
        pathname=path,
        method=method,
        auth_type="AK",
        style="ROA",
        req_body_type="json",
        body_type="json",
    )
    try:
        answer = Client(config).call_api(params, OpenApiRequest(body=body), RuntimeOptions())
    except AlibabaCloudException as refused:
        return int(refused.status_code or 0), refused.code
    return int(answer["statusCode"]), answer["body"]


def doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "1", "Statement": list(statements)})


@dataclass
class Caller:
    name: str
    access_key_id: str
    secret: str


def policy_user(root: Api, account: dict[str, Any], name: str, document: str) -> Caller:
    """A RAM user holding one custom policy of its own, and a key."""
    principal = make_user(root, account, name)
    root.ram("CreatePolicy", PolicyName=f"{name}-policy", PolicyDocument=document)
    root.ram("AttachPolicyToUser", UserName=name, PolicyName=f"{name}-policy", PolicyType="Custom")
    key = make_key(root, principal)
    return Caller(name, key["AccessKeyId"], key["AccessKeySecret"])


def gateway_user(root: Api, account: dict[str, Any], account_id: str, service: str) -> Caller:
    """A gateway's identity: allowed keyhouse:VerifyRequest on one service, nothing else."""
    resource = f"acs:keyhouse:*:{account_id}:service/{service}"
    document = doc({"Effect": "Allow", "Action": "keyhouse:VerifyRequest", "Resource": resource})
    return policy_user(root, account, f"gw-{service}", document)


def echo_identity(identity: Any) -> dict[str, Any]:
    """What a protected handler returns: the identity the middleware gave it."""
    from dataclasses import asdict

    return asdict(identity) if identity is not None else {}


def starlette_app(verifier: Any) -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from keyhouse.middleware import KeyhouseASGI

    async def anything(request: Request) -> JSONResponse:
        body = await request.body()
        return JSONResponse(
            {
                "method": request.method,
                "path": request.url.path,
                "body": body.decode(),
                "identity": echo_identity(request.state.keyhouse),
            }
        )

    methods = ["GET", "POST", "PUT", "DELETE"]
    app = Starlette(routes=[Route("/{rest:path}", anything, methods=methods)])
    return KeyhouseASGI(app, verifier)


def flask_app(verifier: Any) -> Any:
    from flask import Flask, jsonify, request

    from keyhouse.middleware import KeyhouseWSGI

    app = Flask("orders")

    @app.route("/<path:rest>", methods=["GET", "POST", "PUT", "DELETE"])
    def anything(rest: str) -> Any:
        return jsonify(
            method=request.method,
            path=request.path,
            body=request.get_data().decode(),
            identity=echo_identity(request.environ["keyhouse.identity"]),
        )

    app.wsgi_app = KeyhouseWSGI(app.wsgi_app, verifier)  # type: ignore[method-assign]
    return app


@contextmanager
def serving(framework: str, verifier: Any) -> Iterator[str]:
    """A real HTTP server for the framework's app (uvicorn for Starlette, werkzeug for Flask),
    on a free loopback port, in this process."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    if framework == "starlette":
        import uvicorn

        server = uvicorn.Server(
            uvicorn.Config(
                starlette_app(verifier),
                host="127.0.0.1",
                port=port,
                log_config=None,  # leave this process's logging as it is
                access_log=False,
            )
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            threading.Event().wait(0.02)
        try:
            yield f"127.0.0.1:{port}"
        finally:
            server.should_exit = True
            thread.join(10)
            verifier.close()
        return
    from werkzeug.serving import make_server

    wsgi = make_server("127.0.0.1", port, flask_app(verifier), threaded=True)
    thread = threading.Thread(target=wsgi.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        wsgi.shutdown()
        thread.join(10)
        verifier.close()


NODE_CLIENT = Path(__file__).resolve().parents[1] / "node" / "call.js"


def node_call(
    endpoint: str,
    ak: str,
    secret: str,
    method: str,
    path: str,
    *,
    action: str = "GetOrder",
    token: str | None = None,
    body: Any = None,
) -> tuple[int, Any]:
    """:func:`sdk_call` from Node.js: @alicloud/openapi-client's callApi (tests/node/call.js),
    with @alicloud/credentials for a temporary credential."""
    node = shutil.which("node")
    if node is None or not (NODE_CLIENT.parent / "node_modules").is_dir():
        if os.environ.get("CI"):
            pytest.fail("Node.js and tests/node's packages are required in CI (scripts/test)")
        pytest.skip("Node.js or tests/node/node_modules is missing (npm ci --prefix tests/node)")
    setting = {
        "endpoint": endpoint,
        "accessKeyId": ak,
        "secret": secret,
        "token": token,
        "method": method,
        "path": path,
        "action": action,
        "version": VERSION,
        "body": body,
    }
    done = subprocess.run(
        [node, str(NODE_CLIENT)],
        input=json.dumps(setting),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    answer = json.loads(done.stdout)
    return int(answer["status"]), answer["body"] if "body" in answer else answer["code"]
