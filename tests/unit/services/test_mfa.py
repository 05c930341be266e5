"""Virtual MFA devices and the console's sign-in with a code, in process: codes are computed
from the seed at the clock's time, as a phone would."""

from __future__ import annotations

import pyotp
import pytest

from keyhouse.domain import mfa
from keyhouse.domain.errors import AlreadyExists, Conflict, LimitExceeded, NotFound
from keyhouse.services.base import UserRef
from keyhouse.services.console import SignInRefused
from keyhouse.services.mfa import CodeRefused
from keyhouse.services.trail.surface import operator
from tests.unit.services.conftest import House

PASSWORD = "Passw0rd-One"


def _codes(seed: str, house: House) -> tuple[str, str, int]:
    step = mfa.step_of(house.clock.instant)
    totp = pyotp.TOTP(seed)
    return totp.generate_otp(step - 1), totp.generate_otp(step), step


def test_a_device_is_bound_with_two_consecutive_codes_and_deleted_only_unbound(
    house: House,
) -> None:
    svc, root = house.svc, house.root
    svc.users.create(root, UserRef.name("ann"), None)
    made = svc.mfa.create_device(root, "ann-phone")
    serial = made.device.serial_number
    first, second, _ = _codes(made.seed, house)
    with pytest.raises(CodeRefused):
        svc.mfa.bind(root, UserRef.name("ann"), serial, second, first)
    svc.mfa.bind(root, UserRef.name("ann"), serial, first, second)
    assert svc.mfa.user_info(root, UserRef.name("ann")) is not None
    with pytest.raises(Conflict):
        svc.mfa.delete_device(root, serial)
    with pytest.raises(AlreadyExists):
        svc.mfa.create_device(root, "ann-phone")
    svc.mfa.unbind(root, UserRef.name("ann"))
    svc.mfa.delete_device(root, serial)
    with pytest.raises(NotFound):
        svc.mfa.delete_device(root, serial)


def test_a_sign_in_code_is_accepted_once(house: House) -> None:
    svc, root = house.svc, house.root
    svc.console.set_owner_password(operator(house.account.account_id), PASSWORD)
    made = svc.mfa.start_own(root)
    first, second, step = _codes(made.seed, house)
    svc.mfa.bind_own(root, made.device.serial_number, first, second)
    signed = svc.console.sign_in(house.account.name, None, PASSWORD, "192.0.2.1")
    assert signed.session.mfa_stage == "code"
    with pytest.raises(SignInRefused):  # the binding's second code is spent
        svc.console.give_code(signed.session, None, second, "192.0.2.1")
    fresh = pyotp.TOTP(made.seed).generate_otp(step + 1)
    svc.console.give_code(signed.session, None, fresh, "192.0.2.1")
    found = svc.console.session(signed.token)
    assert found is not None and found[0].mfa_stage == ""
    again = svc.console.sign_in(house.account.name, None, PASSWORD, "192.0.2.1")
    with pytest.raises(SignInRefused):
        svc.console.give_code(again.session, None, fresh, "192.0.2.1")


def test_the_operator_resets_a_lost_device(house: House) -> None:
    svc, root = house.svc, house.root
    made = svc.mfa.start_own(root)
    first, second, _ = _codes(made.seed, house)
    svc.mfa.bind_own(root, made.device.serial_number, first, second)
    assert svc.mfa.own_device(root) is not None
    svc.mfa.reset(operator(house.account.account_id), None)
    assert svc.mfa.own_device(root) is None


def test_an_account_holds_a_bounded_number_of_devices(
    house: House, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Creating devices costs the store a bounded amount (1,100 an account; 3 here)."""
    monkeypatch.setattr(mfa, "DEVICES_PER_ACCOUNT", 3)
    for n in range(3):
        house.svc.mfa.create_device(house.root, f"d{n}")
    with pytest.raises(LimitExceeded):
        house.svc.mfa.create_device(house.root, "d3")
    assert len(house.svc.mfa.list_devices(house.root, None, 100)[0]) == 3
