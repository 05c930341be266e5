"""One calling convention over every official SDK flavour.

``v3`` and ``v2`` use the generated clients and request models of alibabacloud-ims20190815,
-ram20150501 and -sts20150401 (default ACS3-HMAC-SHA256, and ``signature_algorithm='v2'``);
``legacy`` uses aliyun-python-sdk-core with aliyunsdkram's request classes for RAM and
CommonRequest for IMS and STS, as the reference describes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

FLAVOURS = ("v3", "v2", "legacy")
VERSIONS = {
    "ims": "2019-08-15",
    "ram": "2015-05-01",
    "sts": "2015-04-01",
    "actiontrail": "2020-07-06",
}


@dataclass
class ApiError(Exception):
    code: str
    status: int
    message: str
    request_id: str = ""

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.message}"


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class Api:
    def __init__(
        self,
        flavour: str,
        endpoint: str,
        access_key_id: str,
        secret: str,
        token: str | None = None,
        *,
        ca: str | None = None,
    ) -> None:
        self.flavour = flavour
        # HTTPS, the server's certificate checked against this CA (new SDKs only).
        self.ca = ca
        self.endpoint = endpoint
        self.access_key_id = access_key_id
        self._secret = secret
        self._token = token  # a temporary credential's SecurityToken
        self._clients: dict[str, Any] = {}

    def ims(self, action: str, **params: Any) -> dict[str, Any]:
        return self.call("ims", action, params)

    def ram(self, action: str, **params: Any) -> dict[str, Any]:
        return self.call("ram", action, params)

    def sts(self, action: str, **params: Any) -> dict[str, Any]:
        return self.call("sts", action, params)

    def trail(self, action: str, **params: Any) -> dict[str, Any]:
        return self.call("actiontrail", action, params)

    def call(self, product: str, action: str, params: dict[str, Any]) -> dict[str, Any]:
        if self.flavour == "legacy":
            return self._legacy(product, action, params)
        return self._tea(product, action, params)

    # -- new SDKs ---------------------------------------------------------------------------
    def _tea(self, product: str, action: str, params: dict[str, Any]) -> dict[str, Any]:
        from alibabacloud_tea_openapi.exceptions import AlibabaCloudException
        from darabonba.runtime import RuntimeOptions

        client, models = self._tea_client(product)
        method = getattr(client, f"{_snake(action)}_with_options", None)
        request_cls = getattr(models, f"{action}Request", None)
        try:
            if method is None:  # Keyhouse's own actions: the SDK's generic call
                return self._generic(client, product, action, params)
            args = () if request_cls is None else (request_cls().from_map(params),)
            response = method(*args, RuntimeOptions(ca=self.ca))
        except AlibabaCloudException as exc:
            raise ApiError(exc.code, exc.status_code, exc.message, exc.request_id or "") from exc
        return response.body.to_map()  # type: ignore[no-any-return]

    def _generic(
        self, client: Any, product: str, action: str, params: dict[str, Any]
    ) -> dict[str, Any]:
        """An action no generated client has (Keyhouse's protected services), through the
        generic call every tea client has, as an RPC-style request."""
        from alibabacloud_tea_openapi.utils_models import OpenApiRequest, Params
        from darabonba.runtime import RuntimeOptions

        call = Params(
            action=action,
            version=VERSIONS[product],
            protocol="HTTPS" if self.ca else "HTTP",
            pathname="/",
            method="POST",
            auth_type="AK",
            style="RPC",
            req_body_type="formData",
            body_type="json",
        )
        request = OpenApiRequest(query=_flatten(params))
        answer = client.call_api(call, request, RuntimeOptions(ca=self.ca))
        return answer["body"]  # type: ignore[no-any-return]

    def _tea_client(self, product: str) -> tuple[Any, Any]:
        if product not in self._clients:
            from alibabacloud_tea_openapi.utils_models import Config

            if product == "ims":
                from alibabacloud_ims20190815 import models
                from alibabacloud_ims20190815.client import Client
            elif product == "ram":
                from alibabacloud_ram20150501 import models  # type: ignore[no-redef]
                from alibabacloud_ram20150501.client import Client  # type: ignore[no-redef]
            elif product == "actiontrail":
                from alibabacloud_actiontrail20200706 import models  # type: ignore[no-redef]
                from alibabacloud_actiontrail20200706.client import (  # type: ignore[no-redef]
                    Client,
                )
            else:
                from alibabacloud_sts20150401 import models  # type: ignore[no-redef]
                from alibabacloud_sts20150401.client import Client  # type: ignore[no-redef]
            config = Config(
                access_key_id=self.access_key_id,
                access_key_secret=self._secret,
                security_token=self._token,
                endpoint=self.endpoint,
                protocol="https" if self.ca else "http",
                signature_algorithm="v2" if self.flavour == "v2" else None,
                read_timeout=30000,
                connect_timeout=5000,
            )
            self._clients[product] = (Client(config), models)
        return self._clients[product]  # type: ignore[no-any-return]

    # -- legacy SDK -------------------------------------------------------------------------
    def _legacy(self, product: str, action: str, params: dict[str, Any]) -> dict[str, Any]:
        assert self.ca is None, "the legacy flavour is driven over HTTP"
        from aliyunsdkcore.acs_exception.exceptions import ServerException

        client = self._clients.get("legacy")
        if client is None:
            from aliyunsdkcore.client import AcsClient

            if self._token is None:
                client = AcsClient(self.access_key_id, self._secret, "cn-hangzhou", timeout=30)
            else:
                from aliyunsdkcore.auth.credentials import StsTokenCredential

                sts = StsTokenCredential(self.access_key_id, self._secret, self._token)
                client = AcsClient(region_id="cn-hangzhou", timeout=30, credential=sts)
            self._clients["legacy"] = client
        request = self._legacy_request(product, action, params)
        try:
            body = client.do_action_with_exception(request)
        except ServerException as exc:
            raise ApiError(
                exc.get_error_code(),
                exc.get_http_status(),
                exc.get_error_msg(),
                exc.get_request_id() or "",
            ) from exc
        return json.loads(body)  # type: ignore[no-any-return]

    def _legacy_request(self, product: str, action: str, params: dict[str, Any]) -> Any:
        flat = _flatten(params)
        if product == "ram":
            import importlib

            module = importlib.import_module(f"aliyunsdkram.request.v20150501.{action}Request")
            request = getattr(module, f"{action}Request")()
            for name, value in flat.items():
                setter = getattr(request, f"set_{name}", None)
                if setter is not None:
                    setter(value)
                else:
                    request.add_query_param(name, value)
            request.set_endpoint(self.endpoint)
            request.set_protocol_type("http")
            return request
        from aliyunsdkcore.request import CommonRequest

        request = CommonRequest(domain=self.endpoint, version=VERSIONS[product], action_name=action)
        request.set_method("POST")
        request.set_protocol_type("http")
        for name, value in flat.items():
            request.add_query_param(name, value)
        return request


def _flatten(params: dict[str, Any]) -> dict[str, str]:
    """Lists of {Key, Value} become ``Tag.N.Key``; booleans and ints become strings."""
    flat: dict[str, str] = {}
    for name, value in params.items():
        if value is None:
            continue
        if isinstance(value, list):
            for i, item in enumerate(value, start=1):
                for sub, sub_value in item.items():
                    flat[f"{name}.{i}.{sub}"] = str(sub_value)
        else:
            flat[name] = str(value)
    return flat
