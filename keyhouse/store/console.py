"""Store methods for the web console: login profiles, passwords, sessions, the sign-in
throttle. Mixed into ``Tx``."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection

from keyhouse.domain.model import ConsoleSession, LoginProfile
from keyhouse.store.schema import (
    account_passwords,
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
        )

    def end_session(self, token_hash: str) -> None:
        self._c.execute(delete(console_sessions).where(console_sessions.c.token_hash == token_hash))

    def password_changed(self, token_hash: str) -> None:
        self._c.execute(
            update(console_sessions)
            .where(console_sessions.c.token_hash == token_hash)
            .values(must_change_password=False)
        )

    def purge_sessions(self, now: datetime) -> None:
        self._c.execute(delete(console_sessions).where(console_sessions.c.expires_at <= now))

    # -- the sign-in throttle -----------------------------------------------------------------
    def failures(self, subject: str) -> tuple[int, datetime] | None:
        row = self._c.execute(
            select(signin_failures).where(signin_failures.c.subject == subject)
        ).first()
        return (row.failures, row.window_start) if row else None

    def record_failure(self, subject: str, now: datetime, window: timedelta) -> None:
        """Count a failure; a window older than ``window`` starts again at this one."""
        current = self.failures(subject)
        restart = current is not None and now - current[1] >= window
        if current is None:
            self._c.execute(
                insert(signin_failures).values(subject=subject, failures=1, window_start=now)
            )
        elif restart:
            self._c.execute(
                update(signin_failures)
                .where(signin_failures.c.subject == subject)
                .values(failures=1, window_start=now)
            )
        else:
            self._c.execute(
                update(signin_failures)
                .where(signin_failures.c.subject == subject)
                .values(failures=signin_failures.c.failures + 1)
            )

    def clear_failures(self, subject: str) -> None:
        self._c.execute(delete(signin_failures).where(signin_failures.c.subject == subject))
