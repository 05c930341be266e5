"""Virtual MFA devices: TOTP codes (RFC 6238, 30-second steps, 6 digits) with pyotp, and the
QR code a phone scans to add the seed, with segno.

A device is named by its serial number, ``acs:ram::<account id>:mfa/<name>`` (the vendor's
form). A code is accepted once: the device keeps the last time step it accepted, and a code
of that step or an earlier one is refused, so a code seen over a shoulder or replayed from a
proxy's log is spent.
"""

from __future__ import annotations

import base64
import io
import re
from datetime import datetime

import pyotp
import segno
from pyotp.utils import strings_equal

from keyhouse.domain import arn
from keyhouse.domain.errors import InvalidValue

STEP_SECONDS = 30
# The steps either side of now a sign-in code may come from (a phone's clock a little off).
DRIFT_STEPS = 1
# Binding takes two consecutive codes: the later one within this many steps before now.
BIND_STEPS_BACK = 2
SEED_CHARACTERS = 32  # base32: 160 bits, RFC 4226's recommended length
DEVICES_PER_ACCOUNT = 1100  # one per user (1,000) and the owner, and some unbound
ISSUER = "Keyhouse"

_NAME = re.compile(r"^[A-Za-z0-9-]{1,64}\Z", re.ASCII)
_CODE = re.compile(r"^[0-9]{6}\Z", re.ASCII)
OWNER = "owner"  # what a device bound to the account owner records as its holder


def validate_device_name(name: str, parameter: str = "VirtualMFADeviceName") -> str:
    if not name or len(name) > 64:
        raise InvalidValue(
            f"{parameter}.Length", f'The parameter - "{parameter}" beyond the length limit.'
        )
    if not _NAME.match(name):
        raise InvalidValue(
            f"{parameter}.InvalidChars",
            f'The parameter - "{parameter}" contains invalid chars: use letters, digits and '
            "hyphens.",
        )
    return name


def serial_number(account_id: str, name: str) -> str:
    return arn.mfa_serial(account_id, name)


def device_name(account_id: str, serial: str) -> str | None:
    """The name in ``serial`` when it is a serial number of ``account_id``'s devices."""
    name = arn.parse_mfa_serial(account_id, serial) or ""
    return name if _NAME.match(name) else None


def check_code_format(code: str) -> str:
    if not _CODE.match(code):
        raise InvalidValue(
            "AuthenticationCode.Format", 'The parameter - "AuthenticationCode" MUST be 6 numbers.'
        )
    return code


def new_seed() -> str:
    return pyotp.random_base32(SEED_CHARACTERS)


def step_of(at: datetime) -> int:
    return int(at.timestamp()) // STEP_SECONDS


def _code(seed: str, step: int) -> str:
    return pyotp.TOTP(seed).generate_otp(step)


def matching_step(seed: str, code: str, now: datetime, after: int) -> int | None:
    """The time step ``code`` is for, within the drift allowed around ``now`` and later than
    ``after`` (the last step the device accepted); None when there is none."""
    here = step_of(now)
    for step in range(here - DRIFT_STEPS, here + DRIFT_STEPS + 1):
        if step > after and strings_equal(_code(seed, step), code):
            return step
    return None


def consecutive_step(seed: str, first: str, second: str, now: datetime) -> int | None:
    """The step of ``second`` when ``first`` and ``second`` are two consecutive codes ending
    at most :data:`BIND_STEPS_BACK` steps before ``now`` (or one step ahead); None otherwise."""
    here = step_of(now)
    for step in range(here - BIND_STEPS_BACK, here + DRIFT_STEPS + 1):
        if strings_equal(_code(seed, step - 1), first) and strings_equal(_code(seed, step), second):
            return step
    return None


def provisioning_uri(seed: str, label: str) -> str:
    """``otpauth://totp/Keyhouse:<label>?secret=...&issuer=Keyhouse``, what a phone app adds."""
    return pyotp.TOTP(seed).provisioning_uri(name=label, issuer_name=ISSUER)


def qr_png(uri: str) -> bytes:
    buffer = io.BytesIO()
    segno.make(uri, error="m").save(buffer, kind="png", scale=4, border=2)
    return buffer.getvalue()


def qr_png_base64(uri: str) -> str:
    """The wire's ``QRCodePNG``: the PNG, base64."""
    return base64.b64encode(qr_png(uri)).decode()


def check_code_format_ok(code: str) -> bool:
    return bool(_CODE.match(code))
