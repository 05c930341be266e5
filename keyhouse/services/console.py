"""Console sign-in: passwords (argon2id), login profiles, sessions, and the sign-in throttle."""

from __future__ import annotations

import dataclasses
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from keyhouse.domain.errors import AlreadyExists, DomainError, InvalidValue, NotFound
from keyhouse.domain.model import ConsoleSession, LoginProfile, Principal, User
from keyhouse.services.base import UseCases, UserRef
from keyhouse.store.sql import Tx

SESSION_LIFETIME = timedelta(hours=8)
THROTTLE_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_USER = 5
MAX_FAILURES_PER_ADDRESS = 20

_hasher = PasswordHasher()  # argon2id, 64 MiB, 3 passes: the library's (RFC 9106) defaults
# Verified when the account or user does not exist, so that a wrong name costs as much time
# as a wrong password and timing does not reveal which names exist.
_DUMMY = _hasher.hash(secrets.token_urlsafe(16))


def check_password_policy(password: str, parameter: str = "Password") -> str:
    """8 to 32 characters with a lower-case letter, an upper-case letter and a digit."""
    if not (
        8 <= len(password) <= 32
        and re.search(r"[a-z]", password)
        and re.search(r"[A-Z]", password)
        and re.search(r"[0-9]", password)
    ):
        raise InvalidValue(
            f"{parameter}.TooWeak",
            "The password must be 8 to 32 characters long and contain a lower-case letter, "
            "an upper-case letter and a digit.",
        )
    return password


def _verify(stored: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored or _DUMMY, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


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
            user = self._target(tx, principal, account, "ram:CreateLoginProfile", ref, lock=True)
            check_password_policy(password)
            if tx.get_login_profile(user.user_id) is not None:
                raise AlreadyExists("user.login_profile", "The user already has a login profile.")
            profile = LoginProfile(
                user.user_id,
                _hasher.hash(password),
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
            user = self._target(tx, principal, account, "ram:GetLoginProfile", ref, tags=False)
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
            user = self._target(tx, principal, account, "ram:UpdateLoginProfile", ref, lock=True)
            profile = self._profile(tx, user)
            if password is not None:
                check_password_policy(password)
            changed = dataclasses.replace(
                profile,
                password_hash=_hasher.hash(password) if password else profile.password_hash,
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
            return user, changed, account.default_domain

    def delete_login_profile(self, principal: Principal, ref: UserRef) -> None:
        with self.store.transaction(write=True) as tx:
            account = self._account(tx, principal)
            user = self._target(tx, principal, account, "ram:DeleteLoginProfile", ref, lock=True)
            self._profile(tx, user)
            tx.delete_login_profile(user.user_id)  # and signs the user out everywhere

    # -- the account owner's password (operator, CLI) ---------------------------------------
    def set_account_password(self, account_name: str, password: str) -> None:
        check_password_policy(password)
        now = self.clock.now()
        with self.store.transaction(write=True) as tx:
            account = tx.get_account_by_name(account_name)
            if account is None:
                raise NotFound("account", f"No account is named {account_name}.")
            tx.set_account_password(account.account_id, _hasher.hash(password), now)

    # -- signing in and out -------------------------------------------------------------------
    def sign_in(
        self, account_name: str, user_name: str | None, password: str, address: str
    ) -> SignedIn:
        """A session for the account owner (no user name) or a RAM user. Refusals never say
        whether the account, the user or the password was wrong."""
        now = self.clock.now()
        who = f"user:{account_name}/{user_name or ''}"[:200]
        where = f"address:{address}"[:200]
        with self.store.transaction() as tx:
            for subject, limit in ((who, MAX_FAILURES_PER_USER), (where, MAX_FAILURES_PER_ADDRESS)):
                seen = tx.failures(subject)
                if seen and seen[0] >= limit and now - seen[1] < THROTTLE_WINDOW:
                    minutes = int((THROTTLE_WINDOW - (now - seen[1])).total_seconds() // 60) + 1
                    raise SignInRefused(
                        f"Too many failed sign-ins. Try again in {minutes} minutes.",
                        throttled=True,
                    )
        account = None
        user = None
        stored = None
        profile = None
        with self.store.transaction() as tx:
            account = tx.get_account_by_name(account_name)
            if account is not None and not user_name:
                stored = tx.account_password(account.account_id)
            elif account is not None and user_name:
                user = tx.get_live_user_by_name(account.account_id, user_name, tags=False)
                profile = tx.get_login_profile(user.user_id) if user else None
                if profile is not None and profile.status == "Active":
                    stored = profile.password_hash
        if not _verify(stored, password) or account is None:
            with self.store.transaction(write=True) as tx:
                for subject in (who, where):
                    tx.record_failure(subject, now, THROTTLE_WINDOW)
            raise SignInRefused(
                "The account name, user name or password is wrong.",
                account_id=account.account_id if account else "",
                user_name=user_name or "",
            )
        token = secrets.token_urlsafe(32)
        session = ConsoleSession(
            _digest(token),
            account.account_id,
            user.user_id if user else None,
            secrets.token_urlsafe(32),
            bool(profile and profile.password_reset_required),
            now,
            now + SESSION_LIFETIME,
        )
        with self.store.transaction(write=True) as tx:
            tx.clear_failures(who)
            tx.insert_session(session)
            tx.purge_sessions(now)
            if user is not None:
                tx.update_user(dataclasses.replace(user, last_login_at=now))
        return SignedIn(token, session, self._principal(session, user))

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
            user = None
            if found.user_id is not None:
                user = tx.get_user(found.account_id, found.user_id, tags=False)
                profile = tx.get_login_profile(found.user_id)
                if user is None or user.in_bin or profile is None or profile.status != "Active":
                    return None
        return found, self._principal(found, user)

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
            if profile is None or not _verify(profile.password_hash, current):
                raise InvalidValue("CurrentPassword", "The current password is wrong.")
            if current == new:
                raise InvalidValue(
                    "NewPassword", "Choose a password different from the current one."
                )
            tx.save_login_profile(
                dataclasses.replace(
                    profile,
                    password_hash=_hasher.hash(new),
                    password_reset_required=False,
                    updated_at=now,
                )
            )
            tx.password_changed(session.token_hash)


def password_status(profile: LoginProfile) -> str:
    return "InitialValid" if profile.password_reset_required else "NotInitial"


__all__ = ["Console", "SignInRefused", "SignedIn", "check_password_policy"]
