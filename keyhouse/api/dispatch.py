"""One request in, one (status, JSON object) out: route, authenticate, parse, call, render."""

from __future__ import annotations

import logging
import time
from typing import Any

from keyhouse import ids
from keyhouse.api.errors import access_denied_detail, recommend, vendor_code
from keyhouse.api.params import WireError, parse_all
from keyhouse.api.routes import Route
from keyhouse.api.wire import WireRequest, signed_request
from keyhouse.crypto import MasterKeyError
from keyhouse.domain.errors import DomainError, PermissionDenied
from keyhouse.domain.model import Principal
from keyhouse.services.registry import Services

log = logging.getLogger("keyhouse.request")


class Dispatcher:
    def __init__(self, services: Services, routes: dict[tuple[str, str], Route]) -> None:
        self.services = services
        self.routes = routes

    def handle(self, req: WireRequest) -> tuple[int, dict[str, Any]]:
        request_id = ids.request_id()
        started = time.perf_counter()
        principal: Principal | None = None
        action: str | None = None
        try:
            action, version = req.action_version()
            entry = self.routes.get((version or "", action or ""))
            if entry is None:
                raise WireError(
                    "InvalidAction.NotFound",
                    404,
                    f"Specified api {action or '(none)'} is not found for version "
                    f"{version or '(none)'}.",
                )
            principal = self.services.authenticator.authenticate(signed_request(req), entry.service)
            params = parse_all(entry.params, req.params())
            result = entry.handler(self.services, principal, params)
            result["RequestId"] = request_id
            status, code = 200, ""
            return status, result
        except WireError as exc:
            status, code = exc.status, exc.code
            return status, self._envelope(req, request_id, code, exc.message)
        except PermissionDenied as exc:
            status, code = 403, "NoPermission"
            body = self._envelope(req, request_id, code, exc.message)
            body["AccessDeniedDetail"] = access_denied_detail(exc, principal)
            return status, body
        except DomainError as exc:
            code, status = vendor_code(exc)
            return status, self._envelope(req, request_id, code, exc.message)
        except MasterKeyError:
            log.exception("the master key cannot open a stored secret")
            status, code = 500, "InternalError"
            return status, self._envelope(req, request_id, code, _INTERNAL)
        except Exception:
            log.exception("request %s failed", request_id)
            status, code = 500, "InternalError"
            return status, self._envelope(req, request_id, code, _INTERNAL)
        finally:
            log.info(
                "%s %s status=%s code=%s key=%s ms=%.1f",
                request_id,
                action or "-",
                locals().get("status", "?"),
                locals().get("code") or "-",
                principal.access_key_id if principal else "-",
                (time.perf_counter() - started) * 1000,
            )

    @staticmethod
    def _envelope(req: WireRequest, request_id: str, code: str, message: str) -> dict[str, Any]:
        return {
            "RequestId": request_id,
            "HostId": req.header("host") or "",
            "Code": code,
            "Message": message,
            "Recommend": recommend(code),
        }


_INTERNAL = "The request processing has failed due to some unknown error."
