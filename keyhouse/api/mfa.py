"""Virtual MFA devices, IMS 2019-08-15 (users by UserPrincipalName) and RAM 2015-05-01 (by
UserName): create, list, delete, bind, unbind, and which device a user has."""

from __future__ import annotations

from typing import Any

from keyhouse.api.params import Param
from keyhouse.api.routes import Routes
from keyhouse.clock import format_date
from keyhouse.domain import mfa
from keyhouse.domain.actions import Action
from keyhouse.domain.errors import NotFound
from keyhouse.domain.model import MFADevice, Principal
from keyhouse.services.base import UserRef
from keyhouse.services.mfa import Listed
from keyhouse.services.registry import Services

IMS, RAM = "2019-08-15", "2015-05-01"
P = dict[str, Any]
ROUTES = Routes()

DEVICE_NAME = Param("VirtualMFADeviceName", required=True, max_length=64)
SERIAL = Param("SerialNumber", required=True, max_length=128)
CODES = (
    Param("AuthenticationCode1", required=True, max_length=16),
    Param("AuthenticationCode2", required=True, max_length=16),
)
UPN = Param("UserPrincipalName", required=True, max_length=128)
NAME = Param("UserName", required=True, max_length=64)
PAGE = (Param("Marker", max_length=512), Param("MaxItems", kind="int", minimum=1, maximum=100))


def _user(version: str, p: P) -> UserRef:
    return UserRef.upn(p["UserPrincipalName"]) if version == IMS else UserRef.name(p["UserName"])


def create_device(svc: Services, who: Principal, p: P) -> P:
    made = svc.mfa.create_device(who, p["VirtualMFADeviceName"])
    uri = made.uri(f"{made.device.name}@{who.account_id}")
    return {
        "VirtualMFADevice": {
            "SerialNumber": made.device.serial_number,
            "Base32StringSeed": made.seed,
            "QRCodePNG": mfa.qr_png_base64(uri),
        }
    }


def delete_device(svc: Services, who: Principal, p: P) -> P:
    svc.mfa.delete_device(who, p["SerialNumber"])
    return {}


def _listed(svc: Services, who: Principal, p: P, user_field: str, paged: bool) -> P:
    found, marker, domain = svc.mfa.list_devices(who, p.get("Marker"), p.get("MaxItems") or 100)

    def one(listed: Listed) -> P:
        device, user = listed.device, listed.user
        shown: P = {"SerialNumber": device.serial_number}
        if user is not None:
            name = user.principal_name(domain) if user_field == "UserPrincipalName" else user.name
            shown["User"] = {
                "UserId": user.user_id,
                "DisplayName": user.display_name,
                user_field: name,
            }
        else:
            shown["User"] = {}
        if device.activated_at is not None and device.holder is not None:
            shown["ActivateDate"] = format_date(device.activated_at)
        return shown

    body: P = {"VirtualMFADevices": {"VirtualMFADevice": [one(d) for d in found]}}
    if paged:
        body["IsTruncated"] = marker is not None
        if marker is not None:
            body["Marker"] = marker
    return body


def _device(device: MFADevice) -> P:
    return {"SerialNumber": device.serial_number}


for version, service in ((IMS, "ims"), (RAM, "ram")):
    ROUTES(version, Action.CreateVirtualMFADevice, service, DEVICE_NAME)(create_device)
    ROUTES(version, Action.DeleteVirtualMFADevice, service, SERIAL)(delete_device)


@ROUTES(IMS, Action.ListVirtualMFADevices, "ims", *PAGE)
def list_devices_ims(svc: Services, who: Principal, p: P) -> P:
    return _listed(svc, who, p, "UserPrincipalName", paged=True)


@ROUTES(RAM, Action.ListVirtualMFADevices, "ram")
def list_devices_ram(svc: Services, who: Principal, p: P) -> P:
    return _listed(svc, who, p, "UserName", paged=False)


@ROUTES(IMS, Action.BindMFADevice, "ims", SERIAL, UPN, *CODES)
def bind_ims(svc: Services, who: Principal, p: P) -> P:
    return _bind(svc, who, p, IMS)


@ROUTES(RAM, Action.BindMFADevice, "ram", SERIAL, NAME, *CODES)
def bind_ram(svc: Services, who: Principal, p: P) -> P:
    return _bind(svc, who, p, RAM)


def _bind(svc: Services, who: Principal, p: P, version: str) -> P:
    svc.mfa.bind(
        who,
        _user(version, p),
        p["SerialNumber"],
        p["AuthenticationCode1"],
        p["AuthenticationCode2"],
    )
    return {}


@ROUTES(IMS, Action.UnbindMFADevice, "ims", UPN)
def unbind_ims(svc: Services, who: Principal, p: P) -> P:
    return {"MFADevice": _device(svc.mfa.unbind(who, _user(IMS, p)))}


@ROUTES(RAM, Action.UnbindMFADevice, "ram", NAME)
def unbind_ram(svc: Services, who: Principal, p: P) -> P:
    return {"MFADevice": _device(svc.mfa.unbind(who, _user(RAM, p)))}


@ROUTES(IMS, Action.GetUserMFAInfo, "ims", Param("UserPrincipalName", max_length=128))
def user_mfa_info_ims(svc: Services, who: Principal, p: P) -> P:
    ref = UserRef.upn(p["UserPrincipalName"]) if p["UserPrincipalName"] else None
    device = svc.mfa.user_info(who, ref)
    if device is None:  # IMS says so; RAM 2015-05-01 answers EntityNotExist.User.MFADevice
        return {"IsMFAEnable": False}
    return {"IsMFAEnable": True, "MFADevice": {**_device(device), "Type": "VMFA"}}


@ROUTES(RAM, Action.GetUserMFAInfo, "ram", NAME)
def user_mfa_info_ram(svc: Services, who: Principal, p: P) -> P:
    device = svc.mfa.user_info(who, _user(RAM, p))
    if device is None:
        raise NotFound("user.mfa_device", "The user has not bound any MFA device.")
    return {"MFADevice": {**_device(device), "Type": "VMFA"}}
