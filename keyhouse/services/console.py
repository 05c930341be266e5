"""Console sign-in: passwords (argon2id), login profiles, sessions, and the sign-in throttle."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from keyhouse.domain.actions import Action, Scope
from keyhouse.domain.arn import account_resource, user_resource
from keyhouse.domain.errors import (
    AlreadyExists,
    DomainError,
    InvalidValue,
    NotFound,
    PermissionDenied,
)
from keyhouse.domain.mfa import OWNER
from keyhouse.domain.model import ConsoleSession, LoginProfile, NewSecret, Principal, User
from keyhouse.services.base import UseCases, UserRef
from keyhouse.services.mfa import MFA
from keyhouse.services.passwords import (
    ConsoleBusy,
    attempt_subjects,
    check_password_policy,
    count_attempt,
    forgive,
    hash_password,
    verify,
)
from keyhouse.store.sql import Tx

SESSION_LIFETIME = timedelta(hours=8)
# A session that gave its password but still owes an MFA code (or a device) lasts this long.
MFA_STAGE_LIFETIME = timedelta(minutes=10)
FLASH_LIFETIME = timedelta(minutes=10)


def _operator_only(principal: Principal) -> None:
    if not principal.is_operator:
        raise PermissionDenied(
            "Only the operator (keyhouse account set-password) sets the owner's password.",
            action="keyhouse:SetAccountPassword",
            reason="operator only",
        )


def _plausible(name: str, longest: int) -> bool:
    return 0 < len(name) <= longest and name.isprintable()


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class SignInRefused(DomainError):
    """Wrong name or password (which one is not said), or too many recent failures."""

    def __init__(self, message: str, *, throttled: bool = False, **data: str) -> None:
        super().__init__(message, **data)
        self.throttled = throttled
        self.code = "signin.throttled" if throttled else "signin.failed"


@dataclass(frozen=True, slots=True)
class SignedIn:
    token: str  # for the cookie; only its hash is stored
    session: ConsoleSession
    principal: Principal


class Console(UseCases):
    # -- login profiles (IMS API, authorized like every other action) ----------------------
    def create_login_profile(
        self,
        principal: Principal,
        ref: UserRef,
        password: str,
        *,
        reset_required: bool,
        mfa_required: bool,
        status: str,
    ) -> tuple[User, LoginProfile, str]:
        now = self.clock.now()
        with self.store.transaction(write=True) as tx:
            account = self._account(tx, principal)
            user = self._target(tx, principal, account, Action.CreateLoginProfile, ref, lock=True)
            check_password_policy(password)
            if tx.get_login_profile(user.user_id) is not None:
                raise AlreadyExists("user.login_profile", "The user already has a login profile.")
            profile = LoginProfile(
                user.user_id,
                hash_password(password),
                status,
                reset_required,
                mfa_required,
                now,
                now,
            )
            tx.save_login_profile(profile)
            return user, profile, account.default_domain

    @staticmethod
    def _profile(tx: Tx, user: User) -> LoginProfile:
        profile = tx.get_login_profile(user.user_id)
        if profile is None:
            raise NotFound("user.login_profile", "The user has no login profile.")
        return profile

    def get_login_profile(
        self, principal: Principal, ref: UserRef
    ) -> tuple[User, LoginProfile, str]:
        with self.store.transaction() as tx:
            account = self._account(tx, principal)
            user = self._target(tx, principal, account, Action.GetLoginProfile, ref, tags=False)
            return user, self._profile(tx, user), account.default_domain

    def update_login_profile(
        self,
        principal: Principal,
        ref: UserRef,
        *,
        password: str | None,
        reset_required: bool | None,
        mfa_required: bool | None,
        status: str | None,
    ) -> tuple[User, LoginProfile, str]:
        now = self.clock.now()
        with self.store.transaction(write=True) as tx:
            account = self._account(tx, principal)
            user = self._target(tx, principal, account, Action.UpdateLoginProfile, ref, lock=True)
            profile = self._profile(tx, user)
            if password is not None:
                check_password_policy(password)
            changed = dataclasses.replace(
                profile,
                password_hash=hash_password(password) if password else profile.password_hash,
                password_reset_required=(
                    profile.password_reset_required if reset_required is None else reset_required
                ),
                mfa_bind_required=(
                    profile.mfa_bind_required if mfa_required is None else mfa_required
                ),
                status=status or profile.status,
                updated_at=now,
            )
            tx.save_login_profile(changed)
            if password or changed.status != "Active":
                tx.end_sessions(account.account_id, user.user_id)  # a reset signs the user out
            return user, changed, account.default_domain

    def delete_login_profile(self, principal: Principal, ref: UserRef) -> None:
        with self.store.transaction(write=True) as tx:
            account = self._account(tx, principal)
            user = self._target(tx, principal, account, Action.DeleteLoginProfile, ref, lock=True)
            self._profile(tx, user)
            tx.delete_login_profile(user.user_id)  # and signs the user out everywhere

    # -- the account owner's password (operator, CLI) ---------------------------------------
    def set_owner_password(self, principal: Principal, password: str) -> None:
        """The account owner's console password: set by the local operator only."""
        _operator_only(principal)
        # Hashed before the transaction: argon2 (and a wait for a hash slot) must not hold
        # the store's write lock.
        password_hash = hash_password(check_password_policy(password))
        now = self.clock.now()
        with self.store.transaction(write=True) as tx:
            account = self._account(tx, principal)
            tx.set_account_password(account.account_id, password_hash, now)
            tx.end_sessions(account.account_id, None)  # a new password signs the owner out

    # -- signing in and out -------------------------------------------------------------------
    def sign_in(
        self, account_name: str, user_name: str | None, password: str, address: str
    ) -> SignedIn:
        """A session for the account owner (no user name) or a RAM user. Refusals never say
        whether the account, the user or the password was wrong.

        Every attempt is counted before the password is checked, so concurrent guesses cannot
        slip past the limits: 5 per user from one address (then locked for 15 minutes,
        doubling with every further attempt), 20 per address, 100 per user from anywhere (so
        that guessing from one address never locks the owner out elsewhere)."""
        if not (_plausible(account_name, 64) and _plausible(user_name or "-", 64)):
            # No account or user has such a name: nothing to count, nothing to look up.
            raise SignInRefused("The account name, user name or password is wrong.")
        now = self.clock.now()
        subjects = attempt_subjects(account_name, user_name, address)
        with self.store.transaction(write=True) as tx:
            throttled = count_attempt(tx, subjects, now)
            account = tx.get_account_by_name(account_name)
        if throttled:
            raise SignInRefused(
                "Too many failed sign-ins. Try again later.",
                throttled=True,
                account_id=account.account_id if account else "",
                user_name=user_name or "",
            )
        user = None
        stored = None
        profile = None
        device = None
        with self.store.transaction() as tx:
            if account is not None and not user_name:
                stored = tx.account_password(account.account_id)
            elif account is not None and user_name:
                user = tx.get_live_user_by_name(account.account_id, user_name, tags=False)
                profile = tx.get_login_profile(user.user_id) if user else None
                if profile is not None and profile.status == "Active":
                    stored = profile.password_hash
            if account is not None and stored is not None:  # the MFA device it will ask about
                device = tx.mfa_device_of(account.account_id, user.user_id if user else OWNER)
        if not verify(stored, password) or account is None:
            raise SignInRefused(
                "The account name, user name or password is wrong.",
                account_id=account.account_id if account else "",
                user_name=user_name or "",
            )
        token = secrets.token_urlsafe(32)
        stage = ""
        if device is not None:
            stage = "code"
        elif profile is not None and (
            profile.mfa_bind_required or account.mfa_for_login == "mandatory"
        ):
            stage = "bind"
        lifetime = MFA_STAGE_LIFETIME if stage else SESSION_LIFETIME
        session = ConsoleSession(
            _digest(token),
            account.account_id,
            user.user_id if user else None,
            secrets.token_urlsafe(32),
            bool(profile and profile.password_reset_required),
            now,
            now + lifetime,
            account_name=account.name,
            mfa_stage=stage,
        )
        with self.store.transaction(write=True) as tx:
            if stage != "code":  # the failures are forgiven once the code is right
                forgive(tx, subjects)
            tx.insert_session(session)
            tx.purge_sessions(now, flashes_before=now - FLASH_LIFETIME)
            if user is not None:
                tx.update_user(dataclasses.replace(user, last_login_at=now))
        return SignedIn(token, session, self._principal(session, user))

    def give_code(
        self, session: ConsoleSession, user_name: str | None, code: str, address: str
    ) -> None:
        """The MFA code a session that gave its password owes (``user_name``: its RAM user's,
        None for the owner). Each attempt counts against the same throttle as passwords (per
        person and address, per address, per person) before the code is checked; a code is
        accepted once. Raises SignInRefused."""
        if session.mfa_stage != "code":
            return
        now = self.clock.now()
        subjects = attempt_subjects(session.account_name, user_name, address)
        with self.store.transaction(write=True) as tx:
            throttled = count_attempt(tx, subjects, now)
        if throttled:
            raise SignInRefused("Too many failed sign-ins. Try again later.", throttled=True)
        holder = session.user_id or OWNER
        checker = MFA(self.store, self.clock, self.authorizer, self.box)
        with self.store.transaction(write=True) as tx:
            good = checker.check_sign_in_code(tx, session.account_id, holder, code.strip())
            if good:
                forgive(tx, subjects)
                tx.pass_mfa_stage(session.token_hash, now + SESSION_LIFETIME)
        if not good:
            raise SignInRefused("The MFA code is wrong, or was used already.")

    def device_bound(self, session: ConsoleSession) -> None:
        """A session that had to bind a device did: every page opens now."""
        if session.mfa_stage == "bind":
            with self.store.transaction(write=True) as tx:
                tx.pass_mfa_stage(session.token_hash, self.clock.now() + SESSION_LIFETIME)

    def permitted(self, principal: Principal, actions: Iterable[Action]) -> set[Action]:
        """Which of ``actions`` the principal may perform: account-wide ones on the account,
        user-level ones on itself (its own AccessKeys under the security preference). What the
        console offers in its navigation; each page still asks the same question for real."""
        if principal.is_root:  # the owner may do everything in its account: nothing to read
            return set(actions)
        with self.store.transaction() as tx:
            account = tx.get_account(principal.account_id)
            if account is None:
                return set()
            allowed = set()
            for action in actions:
                if action.permission.scope is Scope.USER and principal.user_name:
                    resource = user_resource(account.account_id, principal.user_name)
                else:
                    resource = account_resource(account.account_id)
                decision = self.authorizer.decide(
                    principal,
                    action,
                    account.account_id,
                    resource,
                    grants=lambda: self._grants(tx, principal, account),
                    target_user_id=principal.user_id,
                )
                if decision.allowed:
                    allowed.add(action)
            return allowed

    @staticmethod
    def _principal(session: ConsoleSession, user: User | None) -> Principal:
        if user is None:
            return Principal("root", session.account_id)
        return Principal("user", session.account_id, user_id=user.user_id, user_name=user.name)

    def session(self, token: str) -> tuple[ConsoleSession, Principal] | None:
        """The live session for a cookie's token, and who it signs in as."""
        now = self.clock.now()
        with self.store.transaction() as tx:
            found = tx.get_session(_digest(token), now)
            if found is None:
                return None
            account = tx.get_account(found.account_id)
            if account is None:
                return None
            found = dataclasses.replace(found, account_name=account.name)
            user = None
            if found.user_id is not None:
                user = tx.get_user(found.account_id, found.user_id, tags=False)
                profile = tx.get_login_profile(found.user_id)
                if user is None or user.in_bin or profile is None or profile.status != "Active":
                    return None
        return found, self._principal(found, user)

    # -- one-time notices (post/redirect/get) ----------------------------------------------
    def flash(
        self,
        session: ConsoleSession,
        *,
        notice: str = "",
        error: str = "",
        field: str = "",
        form: dict[str, str] | None = None,
        created: NewSecret | None = None,
    ) -> None:
        """Keep what the session's next page shows once (post/redirect/get): a notice, or an
        error with the form as it was sent, and a new pair's secret, sealed."""
        sealed = None
        if created is not None:
            sealed = self.box.seal(created.key.access_key_id, created.secret)
        key_id = created.key.access_key_id if created else None
        shown = {"notice": notice, "error": error, "field": field, "form": _bounded(form or {})}
        message = json.dumps(shown)
        with self.store.transaction(write=True) as tx:
            tx.put_flash(session.token_hash, message, self.clock.now(), key_id, sealed)

    def take_flash(self, session: ConsoleSession) -> Flash | None:
        """The session's notice, once; None when there is none (or it is over 10 minutes old)."""
        since = self.clock.now() - FLASH_LIFETIME
        with self.store.transaction() as tx:  # most pages have none: no write lock for them
            if not tx.has_flash(session.token_hash):
                return None
        with self.store.transaction(write=True) as tx:
            found = tx.take_flash(session.token_hash, since)
        if found is None:
            return None
        message, key_id, sealed = found
        secret = self.box.open(key_id, sealed) if key_id and sealed else None
        try:
            shown = json.loads(message)
        except ValueError:  # a notice kept before notices were JSON
            shown = {"notice": message}
        return Flash(
            notice=str(shown.get("notice", "")),
            error=str(shown.get("error", "")),
            field=str(shown.get("field", "")),
            form={str(k): str(v) for k, v in dict(shown.get("form") or {}).items()},
            access_key_id=key_id,
            secret=secret,
        )

    def sign_out(self, token: str) -> None:
        with self.store.transaction(write=True) as tx:
            tx.end_session(_digest(token))

    def change_own_password(self, session: ConsoleSession, current: str, new: str) -> None:
        """A RAM user's new password (forced when PasswordResetRequired)."""
        if session.user_id is None:
            raise InvalidValue("Password", "The account owner's password is set by the operator.")
        check_password_policy(new, "NewPassword")
        now = self.clock.now()
        with self.store.transaction(write=True) as tx:
            profile = tx.get_login_profile(session.user_id)
            if profile is None or not verify(profile.password_hash, current):
                raise InvalidValue("CurrentPassword", "The current password is wrong.")
            if current == new:
                raise InvalidValue(
                    "NewPassword", "Choose a password different from the current one."
                )
            tx.save_login_profile(
                dataclasses.replace(
                    profile,
                    password_hash=hash_password(new),
                    password_reset_required=False,
                    updated_at=now,
                )
            )
            tx.password_changed(session.token_hash)
            # Every other session of this user ends: a stolen session dies with the old password.
            tx.end_sessions(session.account_id, session.user_id, keep=session.token_hash)


@dataclass(frozen=True, slots=True)
class Flash:
    """What the next page shows once: a notice, or an error with the form that caused it,
    and a new pair with its secret."""

    notice: str = ""
    error: str = ""
    field: str = ""  # the form field the error is about
    form: dict[str, str] = dataclasses.field(default_factory=dict)
    access_key_id: str | None = None
    secret: str | None = dataclasses.field(default=None, repr=False)


# A form kept for its next page: at most this many characters in all (a policy document fits).
FORM_KEPT = 16_384
# Never kept, not even sealed: what a person typed as a password or an MFA code.
_NOT_KEPT = frozenset({"csrf", "password", "current", "new", "repeat", "code", "code1", "code2"})


def _bounded(form: dict[str, str]) -> dict[str, str]:
    kept: dict[str, str] = {}
    room = FORM_KEPT
    for name, value in form.items():
        if name in _NOT_KEPT or len(name) > 64:
            continue
        value = value[:room]
        kept[name] = value
        room -= len(value)
        if room <= 0:
            break
    return kept


def password_status(profile: LoginProfile) -> str:
    return "InitialValid" if profile.password_reset_required else "NotInitial"


__all__ = ["Console", "ConsoleBusy", "Flash", "SignInRefused", "SignedIn", "check_password_policy"]
