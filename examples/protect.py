"""Keyhouse in front of your own API, the whole path (README, "Protecting your own APIs").

    python examples/protect.py setup    # the service, a gateway identity, a caller
    python examples/protect.py nginx    # deploy/nginx/protect.conf, filled in
    python examples/protect.py call     # a signed call through nginx, and its event

Talks to Keyhouse at $KEYHOUSE_ENDPOINT (127.0.0.1:8080) with the root pair in
$ALIBABA_CLOUD_ACCESS_KEY_ID / $ALIBABA_CLOUD_ACCESS_KEY_SECRET, through the official SDK's
generic call; keeps what setup made in protect-example.json (it holds secrets: delete it
after). The API behind nginx is at 127.0.0.1:9000, nginx listens on 127.0.0.1:8088.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from alibabacloud_tea_openapi.client import Client
from alibabacloud_tea_openapi.utils_models import Config, OpenApiRequest, Params
from darabonba.runtime import RuntimeOptions

KEYHOUSE = os.environ.get("KEYHOUSE_ENDPOINT", "127.0.0.1:8080")
GATEWAY = os.environ.get("PROTECT_GATEWAY", "127.0.0.1:8088")
API = os.environ.get("PROTECT_API", "127.0.0.1:9000")
STATE = Path(os.environ.get("PROTECT_STATE", "protect-example.json"))
CONF = Path(__file__).resolve().parents[1] / "deploy" / "nginx" / "protect.conf"
ROUTES = [
    {
        "Method": "GET",
        "Path": "/orders/{id}",
        "Action": "orders:GetOrder",
        "Resource": "acs:orders:*:${account}:order/{id}",
    }
]


def client(ak: str, sk: str, endpoint: str) -> Client:
    return Client(
        Config(access_key_id=ak, access_key_secret=sk, endpoint=endpoint, protocol="http")
    )


def rpc(api: Client, action: str, version: str, **query: str) -> dict[str, Any]:
    """One of Keyhouse's own actions (RPC style) through the generic call."""
    params = params_of(action, version, "/", "POST", style="RPC")
    answer = api.call_api(params, OpenApiRequest(query=query), RuntimeOptions())
    return answer["body"]  # type: ignore[no-any-return]


def params_of(
    action: str, version: str, path: str, method: str, *, style: str, body: str = "json"
) -> Params:
    """What the generic call needs to know of an action: where, how it is signed and read."""
    return Params(
        action=action,
        version=version,
        protocol="HTTP",
        pathname=path,
        method=method,
        auth_type="AK",
        style=style,
        req_body_type="formData" if style == "RPC" else "json",
        body_type=body,
    )


def user_with_policy(root: Client, name: str, statement: dict[str, str]) -> dict[str, str]:
    domain = rpc(root, "GetDefaultDomain", "2019-08-15")["DefaultDomainName"]
    upn = f"{name}@{domain}"
    rpc(root, "CreateUser", "2019-08-15", UserPrincipalName=upn, DisplayName=name)
    document = json.dumps({"Version": "1", "Statement": [statement]})
    rpc(root, "CreatePolicy", "2015-05-01", PolicyName=f"{name}-policy", PolicyDocument=document)
    rpc(
        root,
        "AttachPolicyToUser",
        "2015-05-01",
        PolicyName=f"{name}-policy",
        PolicyType="Custom",
        UserName=name,
    )
    key = rpc(root, "CreateAccessKey", "2019-08-15", UserPrincipalName=upn)["AccessKey"]
    return {"AccessKeyId": key["AccessKeyId"], "AccessKeySecret": key["AccessKeySecret"]}


def setup() -> None:
    root = client(
        os.environ["ALIBABA_CLOUD_ACCESS_KEY_ID"],
        os.environ["ALIBABA_CLOUD_ACCESS_KEY_SECRET"],
        KEYHOUSE,
    )
    account = rpc(root, "GetCallerIdentity", "2015-04-01")["AccountId"]
    rpc(root, "CreateService", "2019-08-15", ServiceName="orders", Routes=json.dumps(ROUTES))
    service = f"acs:keyhouse:*:{account}:service/orders"
    gateway = user_with_policy(
        root,
        "orders-gateway",
        {"Effect": "Allow", "Action": "keyhouse:VerifyRequest", "Resource": service},
    )
    caller = user_with_policy(
        root, "orders-reader", {"Effect": "Allow", "Action": "orders:Get*", "Resource": "*"}
    )
    STATE.write_text(json.dumps({"gateway": gateway, "caller": caller, "account": account}))
    STATE.chmod(0o600)
    print(f"service orders created in account {account}; identities in {STATE}")


def nginx() -> None:
    state = json.loads(STATE.read_text())
    print(
        CONF.read_text()
        .replace("127.0.0.1:8000", KEYHOUSE)
        .replace("127.0.0.1:9000", API)
        .replace("listen 127.0.0.1:8080", f"listen {GATEWAY}")
        .replace("GATEWAY_ACCESS_KEY_ID", state["gateway"]["AccessKeyId"])
        .replace("GATEWAY_ACCESS_KEY_SECRET", state["gateway"]["AccessKeySecret"])
    )


def call_api() -> None:
    state = json.loads(STATE.read_text())
    reader = client(state["caller"]["AccessKeyId"], state["caller"]["AccessKeySecret"], GATEWAY)
    params = params_of("GetOrder", "2024-01-01", "/orders/42", "GET", style="ROA", body="string")
    answer = reader.call_api(params, OpenApiRequest(), RuntimeOptions())
    print(f"GET /orders/42 through nginx: {answer['statusCode']} {answer['body']!r}")
    root = client(
        os.environ["ALIBABA_CLOUD_ACCESS_KEY_ID"],
        os.environ["ALIBABA_CLOUD_ACCESS_KEY_SECRET"],
        KEYHOUSE,
    )
    for _ in range(50):  # the event is in the trail before the answer; a moment for the index
        found = rpc(
            root,
            "LookupEvents",
            "2020-07-06",
            **{"LookupAttribute.1.Key": "ResourceName"},
            **{"LookupAttribute.1.Value": f"acs:orders:*:{state['account']}:order/42"},
        )["Events"]
        if found:
            event = found[0]
            print(
                f"the trail: {event['eventTime']} {event['serviceName']}:{event['eventName']} "
                f"by {event['userIdentity']['userName']} ({event['userIdentity']['accessKeyId']}) "
                f"on {event['requestParameters']['Resource']}: "
                f"{event.get('errorCode') or 'allowed'}"
            )
            return
        time.sleep(0.1)
    sys.exit("the event was not found in the trail")


if __name__ == "__main__":
    {"setup": setup, "nginx": nginx, "call": call_api}[sys.argv[1]]()
