"""Requests signed by the official SDKs verify; any one-byte change or dropped signed header fails.

Each SDK signs a CreateUser call against a recorder; the recorded bytes are then sent to
Keyhouse. Mutations go first, and must all be refused without creating anything and without
spending the nonce; the untouched original goes last and must succeed.
"""

from __future__ import annotations

import contextlib
import uuid
from typing import Any

import pytest

from tests.integration import raw
from tests.integration.capture import Captured, Recorder
from tests.integration.conftest import upn
from tests.integration.sdk import Api
from tests.integration.server import Server


def _capture(flavour: str, account: dict[str, Any], name: str) -> Captured:
    with Recorder() as recorder:
        api = Api(flavour, recorder.endpoint, account["AccessKeyId"], account["AccessKeySecret"])
        # The recorder's reply is not a full CreateUser reply; only the request matters here.
        with contextlib.suppress(Exception):
            api.ims("CreateUser", UserPrincipalName=upn(account, name), DisplayName="Mutant")
    assert len(recorder.requests) == 1
    return recorder.requests[0]


def _flip(text: str, index: int) -> str:
    char = text[index]
    return text[:index] + ("B" if char != "B" else "C") + text[index + 1 :]


def _mutations(req: Captured, flavour: str) -> dict[str, Captured]:
    headers = req.headers
    out: dict[str, Captured] = {
        "method": Captured(
            "GET" if req.method == "POST" else "POST", req.target, headers, req.body
        ),
        "path": Captured(req.method, "/x" + req.target[1:], headers, req.body),
    }
    marker = "Mutant"
    at = req.target.find(marker)
    if at >= 0:
        out["query"] = Captured(req.method, _flip(req.target, at), headers, req.body)
    body = req.body or b""
    out["body"] = Captured(
        req.method,
        req.target,
        [(k, v) for k, v in headers if k.lower() != "content-length"],
        body[:-1] + (b"B" if body[-1:] != b"B" else b"C") if body else b"x",
    )
    if flavour == "v3":
        signed = next(v for k, v in headers if k.lower() == "authorization").split(
            "SignedHeaders="
        )[1]
        names = signed.split(",")[0].split(";")
        for name in ("user-agent", "x-acs-date", "x-acs-signature-nonce", "accept"):
            assert name in names
            out[f"header {name}"] = Captured(
                req.method,
                req.target,
                [(k, _flip(v, len(v) - 1) if k.lower() == name else v) for k, v in headers],
                req.body,
            )
            out[f"drop {name}"] = Captured(
                req.method, req.target, [(k, v) for k, v in headers if k.lower() != name], req.body
            )
    return out


def _replay(server: Server, req: Captured) -> tuple[int, dict[str, Any]]:
    headers = [(k, v) for k, v in req.headers if k.lower() != "content-length"]
    return raw.send(server.endpoint, req.method, req.target, headers, req.body)


@pytest.mark.parametrize("flavour", ["v3", "v2", "legacy"])
def test_sdk_signed_requests_verify_and_every_mutation_is_refused(
    server: Server, root: Api, account: dict[str, Any], flavour: str
) -> None:
    name = f"m{uuid.uuid4().hex[:8]}"
    original = _capture(flavour, account, name)
    for label, mutant in _mutations(original, flavour).items():
        status, body = _replay(server, mutant)
        assert status >= 400, (label, body)
        assert body.get("Code") in {
            "SignatureDoesNotMatch",
            "IncompleteSignature",
            "InvalidAction.NotFound",
            "InvalidTimeStamp.Format",
            "InvalidTimeStamp.Expired",
        }, (label, body)
    assert root.ims("ListUsers")["Users"]["User"] == [], "a refused request changed something"
    status, body = _replay(server, original)
    assert status == 200, body
    assert body["User"]["UserPrincipalName"] == upn(account, name)
    status, body = _replay(server, original)
    assert (status, body["Code"]) == (400, "SignatureNonceUsed")


def test_legacy_form_body_is_signed(server: Server, root: Api, account: dict[str, Any]) -> None:
    from aliyunsdkcore.client import AcsClient
    from aliyunsdkcore.request import CommonRequest

    with Recorder() as recorder:
        client = AcsClient(account["AccessKeyId"], account["AccessKeySecret"], "cn-hangzhou")
        request = CommonRequest(
            domain=recorder.endpoint, version="2019-08-15", action_name="CreateUser"
        )
        request.set_method("POST")
        request.set_protocol_type("http")
        request.add_body_params("UserPrincipalName", upn(account, "formuser"))
        request.add_body_params("DisplayName", "Form")
        client.do_action_with_exception(request)
    original = recorder.requests[0]
    assert b"formuser" in original.body
    tampered = Captured(
        original.method,
        original.target,
        original.headers,
        original.body.replace(b"formuser", b"formusex"),
    )
    assert _replay(server, tampered)[1]["Code"] == "SignatureDoesNotMatch"
    status, body = _replay(server, original)
    assert (status, body["User"]["UserPrincipalName"]) == (200, upn(account, "formuser"))
