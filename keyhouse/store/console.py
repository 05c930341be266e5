"""Store methods for the web console: login profiles, passwords, sessions, the sign-in
throttle. Mixed into ``Tx``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection

from keyhouse.crypto import Sealed
from keyhouse.domain.model import ConsoleSession, LoginProfile
from keyhouse.store.common import upsert
from keyhouse.store.schema import (
    account_passwords,
    console_flashes,
    console_sessions,
    login_profiles,
    signin_failures,
)


class ConsoleTx:
    _c: Connection

    # -- login profiles -----------------------------------------------------------------------
    def get_login_profile(self, user_id: str) -> LoginProfile | None:
        row = self._c.execute(
            select(login_profiles).where(login_profiles.c.user_id == user_id)
        ).first()
        if row is None:
            return None
        return LoginProfile(
            row.user_id,
            row.password_hash,
            row.status,
            bool(row.password_reset_required),
            bool(row.mfa_bind_required),
            row.created_at,
            row.updated_at,
        )

    def save_login_profile(self, profile: LoginProfile) -> None:
        values = {
            "password_hash": profile.password_hash,
            "status": profile.status,
            "password_reset_required": profile.password_reset_required,
            "mfa_bind_required": profile.mfa_bind_required,
            "updated_at": profile.updated_at,
        }
        done = self._c.execute(
            update(login_profiles)
            .where(login_profiles.c.user_id == profile.user_id)
            .values(values)
            .returning(login_profiles.c.user_id)
        ).first()
        if done is None:
            self._c.execute(
                insert(login_profiles).values(
                    user_id=profile.user_id, created_at=profile.created_at, **values
                )
            )

    def delete_login_profile(self, user_id: str) -> None:
        self._c.execute(delete(login_profiles).where(login_profiles.c.user_id == user_id))
        self._c.execute(delete(console_sessions).where(console_sessions.c.user_id == user_id))

    # -- the account owner's password ---------------------------------------------------------
    def account_password(self, account_id: str) -> str | None:
        return self._c.scalar(
            select(account_passwords.c.password_hash).where(
                account_passwords.c.account_id == account_id
            )
        )

    def account_password_changed(self, account_id: str) -> datetime | None:
        """When the account owner's password was last set, or None if it never was."""
        return self._c.scalar(
            select(account_passwords.c.updated_at).where(
                account_passwords.c.account_id == account_id
            )
        )

    def set_account_password(self, account_id: str, password_hash: str, at: datetime) -> None:
        self._c.execute(
            delete(account_passwords).where(account_passwords.c.account_id == account_id)
        )
        self._c.execute(
            insert(account_passwords).values(
                account_id=account_id, password_hash=password_hash, updated_at=at
            )
        )

    # -- sessions -----------------------------------------------------------------------------
    def insert_session(self, session: ConsoleSession) -> None:
        self._c.execute(
            insert(console_sessions).values(
                token_hash=session.token_hash,
                account_id=session.account_id,
                user_id=session.user_id,
                csrf=session.csrf,
                must_change_password=session.must_change_password,
                created_at=session.created_at,
                expires_at=session.expires_at,
                mfa_stage=session.mfa_stage,
            )
        )

    def get_session(self, token_hash: str, now: datetime) -> ConsoleSession | None:
        row = self._c.execute(
            select(console_sessions).where(
                console_sessions.c.token_hash == token_hash, console_sessions.c.expires_at > now
            )
        ).first()
        if row is None:
            return None
        return ConsoleSession(
            row.token_hash,
            row.account_id,
            row.user_id,
            row.csrf,
            bool(row.must_change_password),
            row.created_at,
            row.expires_at,
            mfa_stage=row.mfa_stage,
        )

    def pass_mfa_stage(self, token_hash: str, expires_at: datetime) -> None:
        """The session gave its MFA code (or bound its device): every page opens now, until
        ``expires_at``."""
        self._c.execute(
            update(console_sessions)
            .where(console_sessions.c.token_hash == token_hash)
            .values(mfa_stage="", expires_at=expires_at)
        )

    def end_session(self, token_hash: str) -> None:
        self._c.execute(delete(console_sessions).where(console_sessions.c.token_hash == token_hash))
        self._c.execute(delete(console_flashes).where(console_flashes.c.token_hash == token_hash))

    # -- one-time notices ---------------------------------------------------------------------
    def put_flash(
        self,
        token_hash: str,
        message: str,
        at: datetime,
        access_key_id: str | None = None,
        sealed: Sealed | None = None,
    ) -> None:
        """The session's next page shows ``message`` (and the new pair, if given) once."""
        self._c.execute(delete(console_flashes).where(console_flashes.c.token_hash == token_hash))
        self._c.execute(
            insert(console_flashes).values(
                token_hash=token_hash,
                message=message,
                access_key_id=access_key_id,
                secret_key_id=sealed.key_id if sealed else None,
                secret_sealed=sealed.blob if sealed else None,
                created_at=at,
            )
        )

    def has_flash(self, token_hash: str) -> bool:
        return (
            self._c.scalar(
                select(console_flashes.c.token_hash).where(
                    console_flashes.c.token_hash == token_hash
                )
            )
            is not None
        )

    def take_flash(
        self, token_hash: str, since: datetime
    ) -> tuple[str, str | None, Sealed | None] | None:
        """The session's notice (message, AccessKey ID, sealed secret), removed as it is
        read; None if there is none newer than ``since``."""
        row = self._c.execute(
            delete(console_flashes)
            .where(console_flashes.c.token_hash == token_hash)
            .returning(
                console_flashes.c.message,
                console_flashes.c.access_key_id,
                console_flashes.c.secret_key_id,
                console_flashes.c.secret_sealed,
                console_flashes.c.created_at,
            )
        ).first()
        if row is None or row.created_at < since:
            return None
        sealed = Sealed(row.secret_key_id, row.secret_sealed) if row.secret_key_id else None
        return row.message, row.access_key_id, sealed

    def end_sessions(self, account_id: str, user_id: str | None, keep: str | None = None) -> None:
        """Sign the account owner (``user_id`` None) or a user out everywhere, but for the
        session ``keep`` (a token hash)."""
        owner = (
            console_sessions.c.user_id.is_(None)
            if user_id is None
            else console_sessions.c.user_id == user_id
        )
        q = delete(console_sessions).where(console_sessions.c.account_id == account_id, owner)
        if keep is not None:
            q = q.where(console_sessions.c.token_hash != keep)
        self._c.execute(q)

    def password_changed(self, token_hash: str) -> None:
        self._c.execute(
            update(console_sessions)
            .where(console_sessions.c.token_hash == token_hash)
            .values(must_change_password=False)
        )

    def purge_sessions(self, now: datetime, flashes_before: datetime) -> None:
        """Drop expired sessions, and notices older than ``flashes_before`` never shown."""
        self._c.execute(delete(console_sessions).where(console_sessions.c.expires_at <= now))
        self._c.execute(
            delete(console_flashes).where(console_flashes.c.created_at < flashes_before)
        )

    # -- the sign-in throttle -----------------------------------------------------------------
    def count_attempt(self, subject: str, now: datetime, window: Callable[[int], timedelta]) -> int:
        """Count one sign-in attempt against ``subject`` and return the count in its window.
        The window starts at the first attempt and lasts ``window(count so far)``; once it
        has passed, counting starts again. The row is locked, so concurrent attempts are
        counted one after another, never both as the first."""
        self._c.execute(
            upsert(self._c.dialect, signin_failures)
            .values(subject=subject, failures=0, window_start=now)
            .on_conflict_do_nothing(index_elements=["subject"])
        )
        row = self._c.execute(
            select(signin_failures).where(signin_failures.c.subject == subject).with_for_update()
        ).one()
        failures, start = row.failures, row.window_start
        if now - start >= window(failures):
            failures, start = 0, now
        failures += 1
        self._c.execute(
            update(signin_failures)
            .where(signin_failures.c.subject == subject)
            .values(failures=failures, window_start=start)
        )
        return int(failures)

    def forgive_attempt(self, subject: str) -> None:
        """Take back one counted attempt (it succeeded)."""
        self._c.execute(
            update(signin_failures)
            .where(signin_failures.c.subject == subject, signin_failures.c.failures > 0)
            .values(failures=signin_failures.c.failures - 1)
        )

    def clear_failures(self, subject: str) -> None:
        self._c.execute(delete(signin_failures).where(signin_failures.c.subject == subject))
