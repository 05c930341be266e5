"""Virtual MFA devices: the vendor's actions (IMS 2019-08-15 and RAM 2015-05-01), a person's
own device in the console, and the operator's reset.

A device is created unbound with a new seed, which is returned once and then kept only sealed.
Binding it to a user (or to the account owner, from the console) takes two consecutive codes
from the phone that added the seed; from then on a console sign-in of that person asks for a
code (keyhouse.services.console). A code is accepted once (the device keeps the last step).
"""

from __future__ import annotations

from dataclasses import dataclass

from keyhouse.domain import mfa
from keyhouse.domain.actions import Action
from keyhouse.domain.arn import root_resource
from keyhouse.domain.errors import (
    AlreadyExists,
    Conflict,
    DomainError,
    LimitExceeded,
    NotFound,
    PermissionDenied,
)
from keyhouse.domain.model import Account, MFADevice, Principal, User
from keyhouse.services.base import UseCases, UserRef
from keyhouse.store.sealing import mfa_seed_binding
from keyhouse.store.sql import Tx


class CodeRefused(DomainError):
    """A wrong, stale or already used MFA code (which one is not said)."""

    code = "mfa.code_refused"


def _refused() -> CodeRefused:
    return CodeRefused('The parameter - "AuthenticationCode" is incorrect.')


def _no_device() -> NotFound:
    return NotFound("virtual_mfa_device", "The virtual mfa device does not exist.")


@dataclass(frozen=True, slots=True)
class NewDevice:
    device: MFADevice
    seed: str  # shown once, with its QR code

    def uri(self, label: str) -> str:
        return mfa.provisioning_uri(self.seed, label)


@dataclass(frozen=True, slots=True)
class Listed:
    device: MFADevice
    user: User | None  # its holder when a RAM user


def holder_of(principal: Principal) -> str:
    """Who a principal's own device is recorded as held by."""
    if principal.is_root:
        return mfa.OWNER
    if principal.kind != "user" or principal.user_id is None:
        raise PermissionDenied(
            "Only the account owner and RAM users have MFA devices.",
            action="ram:BindMFADevice",
            reason="not a person",
        )
    return principal.user_id


class MFA(UseCases):
    # -- the vendor's actions ------------------------------------------------------------------
    def create_device(self, principal: Principal, name: str) -> NewDevice:
        mfa.validate_device_name(name)
        with self.store.transaction(write=True) as tx:
            account = self._account(tx, principal, lock=True)
            serial = mfa.serial_number(account.account_id, name)
            self._authorize(tx, principal, account, Action.CreateVirtualMFADevice, serial)
            return self._new_device(tx, account, name)

    def _new_device(self, tx: Tx, account: Account, name: str) -> NewDevice:
        if tx.count_mfa_devices(account.account_id) >= mfa.DEVICES_PER_ACCOUNT:
            raise LimitExceeded(
                "virtual_mfa_device",
                f"An account has at most {mfa.DEVICES_PER_ACCOUNT} virtual MFA devices.",
            )
        serial = mfa.serial_number(account.account_id, name)
        seed = mfa.new_seed()
        device = MFADevice(serial, account.account_id, name, None, self.clock.now())
        tx.insert_mfa_device(device, self.box.seal(mfa_seed_binding(serial), seed))
        return NewDevice(device, seed)

    def list_devices(
        self, principal: Principal, marker: str | None, max_items: int
    ) -> tuple[list[Listed], str | None, str]:
        """A page of the account's devices, the marker of the next (None: the last page), and
        the account's default domain (for the holders' principal names)."""
        with self.store.transaction() as tx:
            account = self._account(tx, principal, Action.ListVirtualMFADevices)
            rows = tx.list_mfa_devices(account.account_id, marker, max_items + 1)
            found = []
            for device, _ in rows[:max_items]:
                user = None
                if device.holder not in (None, mfa.OWNER):
                    user = tx.get_user(account.account_id, device.holder or "", tags=False)
                found.append(Listed(device, user))
        more = rows[max_items - 1][0].serial_number if len(rows) > max_items else None
        return found, more, account.default_domain

    def delete_device(self, principal: Principal, serial: str) -> None:
        with self.store.transaction(write=True) as tx:
            account = self._account(tx, principal, lock=True)
            self._authorize(tx, principal, account, Action.DeleteVirtualMFADevice, serial)
            device = self._device(tx, account, serial)
            if device.holder is not None:
                raise Conflict(
                    "virtual_mfa_device.user",
                    "The virtual mfa device CAN NOT been bound to any user while deleting it.",
                )
            tx.delete_mfa_device(device.serial_number)

    def bind(
        self, principal: Principal, ref: UserRef, serial: str, first: str, second: str
    ) -> None:
        mfa.check_code_format(first)
        mfa.check_code_format(second)
        with self.store.transaction(write=True) as tx:
            account = self._account(tx, principal, lock=True)
            user = self._target(tx, principal, account, Action.BindMFADevice, ref, tags=False)
            self._bind(tx, account, user.user_id, serial, first, second)

    def unbind(self, principal: Principal, ref: UserRef) -> MFADevice:
        with self.store.transaction(write=True) as tx:
            account = self._account(tx, principal, lock=True)
            user = self._target(tx, principal, account, Action.UnbindMFADevice, ref, tags=False)
            device = tx.mfa_device_of(account.account_id, user.user_id)
            if device is None:
                raise NotFound("user.mfa_device", "The user has not bound any MFA device.")
            tx.bind_mfa_device(device.serial_number, None, None, device.last_step)
            return device

    def user_info(self, principal: Principal, ref: UserRef | None) -> MFADevice | None:
        """The device bound to the user ``ref`` names (the caller itself when None; the
        owner's own when the owner names no one), or None."""
        if ref is None and principal.kind == "user" and principal.user_name:
            ref = UserRef.name(principal.user_name)
        with self.store.transaction() as tx:
            account = self._account(tx, principal)
            if ref is None:
                self._authorize(
                    tx, principal, account, Action.GetUserMFAInfo, root_resource(account.account_id)
                )
                return tx.mfa_device_of(account.account_id, holder_of(principal))
            user = self._target(tx, principal, account, Action.GetUserMFAInfo, ref, tags=False)
            return tx.mfa_device_of(account.account_id, user.user_id)

    # -- a person's own device (the console) --------------------------------------------------
    def own_device(self, principal: Principal) -> MFADevice | None:
        with self.store.transaction() as tx:
            return tx.mfa_device_of(principal.account_id, holder_of(principal))

    def _may_manage_own(self, tx: Tx, principal: Principal, forced: bool) -> Account:
        """The account, once ``principal`` may bind or unbind its own device: the owner
        always; a RAM user when the security preference lets users manage their devices, or
        when it must bind one to sign in (``forced``)."""
        account = self._account(tx, principal, lock=True)
        if principal.kind == "user" and not (forced or account.allow_user_manage_mfa):
            raise PermissionDenied(
                "The security preference does not let RAM users manage their MFA devices "
                "(AllowUserToManageMFADevices); ask an administrator.",
                action="ram:BindMFADevice",
                reason="security preference",
            )
        return account

    def start_own(self, principal: Principal, *, forced: bool = False) -> NewDevice:
        """A new device for the caller to bind, replacing an unbound one an earlier attempt
        left (its seed was shown once and is gone)."""
        holder = holder_of(principal)
        name = f"console-{holder}"
        with self.store.transaction(write=True) as tx:
            account = self._may_manage_own(tx, principal, forced)
            if tx.mfa_device_of(account.account_id, holder) is not None:
                raise AlreadyExists(
                    "user.mfa_device", "You have an MFA device already; unbind it first."
                )
            left = tx.get_mfa_device(mfa.serial_number(account.account_id, name), lock=True)
            if left is not None and left.holder is None:
                tx.delete_mfa_device(left.serial_number)
            return self._new_device(tx, account, name)

    def bind_own(
        self, principal: Principal, serial: str, first: str, second: str, *, forced: bool = False
    ) -> None:
        mfa.check_code_format(first)
        mfa.check_code_format(second)
        holder = holder_of(principal)
        with self.store.transaction(write=True) as tx:
            account = self._may_manage_own(tx, principal, forced)
            self._bind(tx, account, holder, serial, first, second)

    def unbind_own(self, principal: Principal, code: str) -> MFADevice:
        """Unbind and delete the caller's device, given a code from it (a session left open
        on someone's desk cannot take the second factor away)."""
        mfa.check_code_format(code)
        holder = holder_of(principal)
        with self.store.transaction(write=True) as tx:
            account = self._may_manage_own(tx, principal, False)
            device = tx.mfa_device_of(account.account_id, holder)
            if device is None:
                raise NotFound("user.mfa_device", "You have no MFA device.")
            self._check_code(tx, device, code)
            tx.delete_mfa_device(device.serial_number)
            return device

    # -- the operator ---------------------------------------------------------------------------
    def reset(self, principal: Principal, user: str | None) -> MFADevice:
        """Unbind and delete the MFA device of the RAM user named ``user``, or of the account
        owner when None (a lost phone). The local operator only."""
        if not principal.is_operator:
            raise PermissionDenied(
                "Only the operator resets MFA devices.",
                action="keyhouse:ResetMFADevice",
                reason="operator only",
            )
        with self.store.transaction(write=True) as tx:
            account = self._account(tx, principal, lock=True)
            holder = mfa.OWNER
            if user is not None:
                holder = self._user(tx, account, UserRef.name(user), tags=False).user_id
            device = tx.mfa_device_of(account.account_id, holder)
            if device is None:
                raise NotFound("user.mfa_device", "No MFA device is bound there.")
            tx.delete_mfa_device(device.serial_number)
            return device

    # -- shared ------------------------------------------------------------------------------
    @staticmethod
    def _device(tx: Tx, account: Account, serial: str) -> MFADevice:
        """The account's device ``serial`` names, its row held until commit."""
        name = mfa.device_name(account.account_id, serial)
        device = tx.get_mfa_device(serial, lock=True) if name else None
        if device is None or device.account_id != account.account_id:
            raise _no_device()
        return device

    def _bind(
        self, tx: Tx, account: Account, holder: str, serial: str, first: str, second: str
    ) -> None:
        device = self._device(tx, account, serial)
        if device.holder is not None:
            raise AlreadyExists(
                "virtual_mfa_device.user",
                "The virtual mfa device does already been bound to a user.",
            )
        if tx.mfa_device_of(account.account_id, holder) is not None:
            raise AlreadyExists("user.mfa_device", "The user has already bound a MFA device.")
        now = self.clock.now()
        step = mfa.consecutive_step(self._seed(tx, device), first, second, now)
        if step is None:
            raise _refused()
        tx.bind_mfa_device(device.serial_number, holder, now, step)

    def _seed(self, tx: Tx, device: MFADevice) -> str:
        sealed = tx.mfa_seed(device.serial_number)
        if sealed is None:
            raise _no_device()
        return self.box.open(mfa_seed_binding(device.serial_number), sealed)

    def _check_code(self, tx: Tx, device: MFADevice, code: str) -> None:
        """Accept ``code`` once, or raise CodeRefused."""
        step = mfa.matching_step(self._seed(tx, device), code, self.clock.now(), device.last_step)
        if step is None or not tx.claim_mfa_step(device.serial_number, step):
            raise _refused()

    def check_sign_in_code(self, tx: Tx, account_id: str, holder: str, code: str) -> bool:
        """For the console's sign-in: whether ``code`` is good (and now spent) for the device
        ``holder`` holds."""
        device = tx.mfa_device_of(account_id, holder)
        if device is None or not mfa.check_code_format_ok(code):
            return False
        try:
            self._check_code(tx, device, code)
        except CodeRefused:
            return False
        return True


__all__ = ["MFA", "CodeRefused", "Listed", "NewDevice", "holder_of"]
