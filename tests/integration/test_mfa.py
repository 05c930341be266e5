"""Virtual MFA devices on the wire, through the official SDKs (IMS 2019-08-15 and RAM
2015-05-01, new and legacy): create, list, bind with two consecutive codes, unbind, delete,
the user's MFA info, the security preference, the credential report, and the operator's reset.
Codes are computed here from the seed the creation returned, as a phone would."""

from __future__ import annotations

import base64
import csv
import io
import sqlite3
import time
from typing import Any

import pyotp

from tests.integration.conftest import expect_error, upn
from tests.integration.sdk import Api
from tests.integration.server import Server
from tests.integration.steps import events


def consecutive_codes(seed: str) -> tuple[str, str]:
    """Two consecutive codes ending with the current one, as a person types them."""
    totp = pyotp.TOTP(seed)
    now = time.time()
    return totp.at(now - 30), totp.at(now)


def bind(api: Api, device: dict[str, Any], principal: str) -> None:
    """Bind ``device`` to the user, with two codes from its seed."""
    first, second = consecutive_codes(device["Base32StringSeed"])
    api.ims(
        "BindMFADevice",
        SerialNumber=device["SerialNumber"],
        UserPrincipalName=principal,
        AuthenticationCode1=first,
        AuthenticationCode2=second,
    )


def make_device(api: Api, name: str) -> dict[str, Any]:
    return api.ims("CreateVirtualMFADevice", VirtualMFADeviceName=name)["VirtualMFADevice"]  # type: ignore[no-any-return]


def test_a_device_is_created_bound_listed_unbound_and_deleted(
    api: Api, root: Api, account: dict[str, Any]
) -> None:
    alice = upn(account, "alice")
    root.ims("CreateUser", UserPrincipalName=alice, DisplayName="Alice")
    device = make_device(api, "alice-phone")
    serial = device["SerialNumber"]
    assert serial == f"acs:ram::{account['AccountId']}:mfa/alice-phone"
    seed = device["Base32StringSeed"]
    assert len(base64.b32decode(seed)) == 20  # 160 bits
    png = base64.b64decode(device["QRCodePNG"])
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    listed = api.ims("ListVirtualMFADevices")["VirtualMFADevices"]["VirtualMFADevice"]
    assert [d["SerialNumber"] for d in listed] == [serial]
    assert "Base32StringSeed" not in listed[0] and not listed[0].get("User")
    assert api.ims("GetUserMFAInfo", UserPrincipalName=alice)["IsMFAEnable"] is False

    first, second = consecutive_codes(seed)
    # Wrong codes, codes not consecutive, and a malformed code are refused.
    expect_error(
        "CheckAuthenticationCodeFail",
        403,
        api.ims,
        "BindMFADevice",
        SerialNumber=serial,
        UserPrincipalName=alice,
        AuthenticationCode1=second,
        AuthenticationCode2=first,
    )
    expect_error(
        "InvalidParameter.AuthenticationCode.Format",
        400,
        api.ims,
        "BindMFADevice",
        SerialNumber=serial,
        UserPrincipalName=alice,
        AuthenticationCode1="12345",
        AuthenticationCode2=second,
    )
    api.ims(
        "BindMFADevice",
        SerialNumber=serial,
        UserPrincipalName=alice,
        AuthenticationCode1=first,
        AuthenticationCode2=second,
    )
    info = api.ims("GetUserMFAInfo", UserPrincipalName=alice)
    assert info["IsMFAEnable"] is True and info["MFADevice"]["SerialNumber"] == serial
    listed = api.ims("ListVirtualMFADevices")["VirtualMFADevices"]["VirtualMFADevice"]
    assert listed[0]["User"]["UserPrincipalName"] == alice and listed[0]["ActivateDate"]

    # Bound: not bound again, not deleted, and the user takes no second device.
    other = make_device(api, "spare")
    a, b = consecutive_codes(other["Base32StringSeed"])
    expect_error(
        "EntityAlreadyExists.User.MFADevice",
        409,
        api.ims,
        "BindMFADevice",
        SerialNumber=other["SerialNumber"],
        UserPrincipalName=alice,
        AuthenticationCode1=a,
        AuthenticationCode2=b,
    )
    expect_error(
        "DeleteConflict.VirtualMFADevice.User",
        409,
        api.ims,
        "DeleteVirtualMFADevice",
        SerialNumber=serial,
    )
    expect_error(
        "EntityAlreadyExists.VirtualMFADevice",
        409,
        api.ims,
        "CreateVirtualMFADevice",
        VirtualMFADeviceName="spare",
    )
    unbound = api.ims("UnbindMFADevice", UserPrincipalName=alice)
    assert unbound["MFADevice"]["SerialNumber"] == serial
    expect_error(
        "EntityNotExist.User.MFADevice", 404, api.ims, "UnbindMFADevice", UserPrincipalName=alice
    )
    api.ims("DeleteVirtualMFADevice", SerialNumber=serial)
    expect_error(
        "EntityNotExist.VirtualMFADevice",
        404,
        api.ims,
        "DeleteVirtualMFADevice",
        SerialNumber=serial,
    )
    expect_error(
        "InvalidParameter.VirtualMFADeviceName.InvalidChars",
        400,
        api.ims,
        "CreateVirtualMFADevice",
        VirtualMFADeviceName="no spaces",
    )
    # The seed is in no event: neither the response of the creation nor the codes.
    found = events(root, EventName="CreateVirtualMFADevice") + events(
        root, EventName="BindMFADevice"
    )
    assert found
    text = repr(found)
    assert seed not in text and first not in text and device["QRCodePNG"][:40] not in text


def test_ram_2015_speaks_user_names(root: Api, account: dict[str, Any], server: Server) -> None:
    ram = Api("legacy", server.endpoint, root.access_key_id, root._secret)
    ram.ram("CreateUser", UserName="bob")
    device = ram.ram("CreateVirtualMFADevice", VirtualMFADeviceName="bob-phone")["VirtualMFADevice"]
    first, second = consecutive_codes(device["Base32StringSeed"])
    ram.ram(
        "BindMFADevice",
        SerialNumber=device["SerialNumber"],
        UserName="bob",
        AuthenticationCode1=first,
        AuthenticationCode2=second,
    )
    info = ram.ram("GetUserMFAInfo", UserName="bob")["MFADevice"]
    assert info == {"SerialNumber": device["SerialNumber"], "Type": "VMFA"}
    listed = ram.ram("ListVirtualMFADevices")["VirtualMFADevices"]["VirtualMFADevice"]
    assert listed[0]["User"]["UserName"] == "bob"
    assert ram.ram("UnbindMFADevice", UserName="bob")["MFADevice"]["SerialNumber"]
    expect_error("EntityNotExist.User.MFADevice", 404, ram.ram, "GetUserMFAInfo", UserName="bob")


def test_a_user_needs_a_policy_for_devices(
    root: Api, account: dict[str, Any], server: Server
) -> None:
    root.ims("CreateUser", UserPrincipalName=upn(account, "carol"), DisplayName="carol")
    key = root.ims("CreateAccessKey", UserPrincipalName=upn(account, "carol"))["AccessKey"]
    carol = Api("v3", server.endpoint, key["AccessKeyId"], key["AccessKeySecret"])
    expect_error("NoPermission", 403, carol.ims, "CreateVirtualMFADevice", VirtualMFADeviceName="x")
    expect_error("NoPermission", 403, carol.ims, "ListVirtualMFADevices")
    root.ram(
        "AttachPolicyToUser",
        PolicyType="System",
        PolicyName="AliyunRAMFullAccess",
        UserName="carol",
    )
    assert make_device(carol, "carols")["SerialNumber"].endswith(":mfa/carols")


def test_the_preference_requires_mfa_and_the_report_tells_who_has_it(
    root: Api, account: dict[str, Any], server: Server
) -> None:
    pref = root.ims("SetSecurityPreference", MFAOperationForLogin="mandatory")
    login = pref["SecurityPreference"]["LoginProfilePreference"]
    assert login["MFAOperationForLogin"] == "mandatory"
    assert pref["SecurityPreference"]["MFAPreference"]["AllowUserToManageMFADevices"] is True
    got = root.ims("GetSecurityPreference")["SecurityPreference"]
    assert got["LoginProfilePreference"]["MFAOperationForLogin"] == "mandatory"
    expect_error(
        "InvalidParameter.MFAOperationForLogin",
        400,
        root.ims,
        "SetSecurityPreference",
        MFAOperationForLogin="adaptive",
    )
    root.ims("SetSecurityPreference", AllowUserToManageMFADevices=False)
    got = root.ims("GetSecurityPreference")["SecurityPreference"]
    assert got["MFAPreference"]["AllowUserToManageMFADevices"] is False
    assert got["LoginProfilePreference"]["MFAOperationForLogin"] == "mandatory"  # kept

    for name in ("dora", "eve"):
        root.ims("CreateUser", UserPrincipalName=upn(account, name), DisplayName=name)
    device = make_device(root, "dora-phone")
    bind(root, device, upn(account, "dora"))
    root.ims("GenerateCredentialReport")
    content = base64.b64decode(root.ims("GetCredentialReport")["Content"]).decode()
    rows = {r["user"]: r for r in csv.DictReader(io.StringIO(content))}
    assert rows[upn(account, "dora")]["mfa_active"] == "TRUE"
    assert rows[upn(account, "eve")]["mfa_active"] == "FALSE"
    assert rows["<root>"]["mfa_active"] == "FALSE"


def test_the_operator_resets_a_lost_device_and_the_seed_is_sealed(
    root: Api, account: dict[str, Any], server: Server, backend: str
) -> None:
    root.ims("CreateUser", UserPrincipalName=upn(account, "finn"), DisplayName="finn")
    device = make_device(root, "finn-phone")
    bind(root, device, upn(account, "finn"))
    if backend == "sqlite":  # the seed is stored sealed, never as text
        db = server.database_url.removeprefix("sqlite:///")
        with sqlite3.connect(db) as conn:
            stored = conn.execute("SELECT * FROM mfa_devices").fetchall()
        assert stored and device["Base32StringSeed"].encode() not in repr(stored).encode()
    out = server.cli("mfa", "reset", "--account", account["AccountName"], "--user", "finn").stdout
    assert device["SerialNumber"] in out
    assert (
        root.ims("GetUserMFAInfo", UserPrincipalName=upn(account, "finn"))["IsMFAEnable"] is False
    )
    assert [e["eventName"] for e in events(root, EventName="ResetMFADevice")] == ["ResetMFADevice"]
