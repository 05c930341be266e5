"""The wire's refusal table (keyhouse.api.errors) and the trail's service names."""

from __future__ import annotations

from keyhouse.api.errors import Refused, refusal
from keyhouse.api.params import WireError
from keyhouse.crypto import MasterKeyError
from keyhouse.domain.audit import service_name
from keyhouse.domain.errors import PermissionDenied
from keyhouse.domain.model import Principal
from keyhouse.services.authn import AuthenticationFailed

REFUSED = Refused("R-1", "keyhouse.test", Principal("user", "1" * 16, user_name="alice"))


def test_each_refusal_gets_the_answer_of_its_most_specific_class() -> None:
    status, body = refusal(WireError("MissingUserName", 400, "UserName is mandatory."), REFUSED)
    assert (status, body["Code"], body["RequestId"], body["HostId"]) == (
        400,
        "MissingUserName",
        "R-1",
        "keyhouse.test",
    )
    denied = PermissionDenied("no", action="ram:GetUser", reason="implicit", effect="ImplicitDeny")
    status, body = refusal(denied, REFUSED)
    assert status == 403 and body["Code"] == "NoPermission"
    assert body["AccessDeniedDetail"]["AuthPrincipalType"] == "SubUser"
    assert body["AccessDeniedDetail"]["AuthAction"] == "ram:GetUser"
    # A DomainError subclass without an entry of its own: the domain's code table.
    inactive = AuthenticationFailed("key_inactive", "Specified access key is disabled.")
    assert refusal(inactive, REFUSED)[:1] == (400,)
    assert refusal(inactive, REFUSED)[1]["Code"] == "InvalidAccessKeyId.Inactive"
    assert refusal(MasterKeyError("no key"), REFUSED)[0] == 500
    assert refusal(RuntimeError("a bug"), REFUSED) is None  # reported, not answered


def test_the_trail_names_the_product_that_served_the_request() -> None:
    assert [service_name(p) for p in ("ims", "ram", "sts", "actiontrail")] == [
        "Ims",
        "Ram",
        "Sts",
        "Actiontrail",
    ]
