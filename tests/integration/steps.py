"""Setup steps the integration tests share, each one official-SDK call (or two)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from tests.integration.conftest import upn
from tests.integration.sdk import Api, ApiError


def make_user(api: Api, account: dict[str, Any], name: str = "alice") -> str:
    """Create a user; return its principal name."""
    api.ims("CreateUser", UserPrincipalName=upn(account, name), DisplayName=name)
    return upn(account, name)


def make_key(api: Api, principal: str) -> dict[str, Any]:
    """Create a pair for the user; return the reply's AccessKey (with its secret)."""
    return api.ims("CreateAccessKey", UserPrincipalName=principal)["AccessKey"]  # type: ignore[no-any-return]


def disable(api: Api, principal: str, key_id: str) -> None:
    api.ims(
        "UpdateAccessKey", UserPrincipalName=principal, UserAccessKeyId=key_id, Status="Inactive"
    )


def bin_key(api: Api, principal: str, key_id: str) -> None:
    """Disable the pair, then delete it into the recycle bin."""
    disable(api, principal, key_id)
    api.ims("DeleteAccessKey", UserPrincipalName=principal, UserAccessKeyId=key_id)


def user_id_of(api: Api, principal: str) -> str:
    return api.ims("GetUser", UserPrincipalName=principal)["User"]["UserId"]  # type: ignore[no-any-return]


def user_with_inactive_key(
    api: Api, account: dict[str, Any], name: str = "alice"
) -> tuple[str, str, str]:
    """A user holding one Inactive pair: (principal name, user ID, AccessKey ID)."""
    principal = make_user(api, account, name)
    key = make_key(api, principal)["AccessKeyId"]
    disable(api, principal, key)
    return principal, user_id_of(api, principal), key


def outcome(call: Callable[[], object], success: str = "ok") -> str:
    """``success`` when the call goes through, else the vendor code it was refused with."""
    try:
        call()
    except ApiError as exc:
        return exc.code
    return success


def eventually(probe: Callable[[], Any], seconds: float = 5.0) -> Any:
    """Read events are buffered (written within a second): poll until ``probe`` is truthy."""
    deadline = time.monotonic() + seconds
    while True:
        value = probe()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def events(root: Api, **attributes: str) -> list[dict[str, Any]]:
    """Every event LookupEvents returns for these attributes (all pages)."""
    found: list[dict[str, Any]] = []
    params: dict[str, Any] = {"MaxResults": 50}
    params["LookupAttribute"] = [{"Key": k, "Value": v} for k, v in attributes.items()]
    while True:
        page = root.trail("LookupEvents", **params)
        found.extend(page["Events"])
        if not page.get("NextToken"):
            return found
        params["NextToken"] = page["NextToken"]
