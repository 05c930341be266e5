"""Run the Alembic migrations to head; safe when several instances start at once."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError


class StoreUnavailable(Exception):
    """The database cannot be reached (or opened)."""


def first_line(exc: BaseException) -> str:
    """The driver's own first line of a database error (without SQLAlchemy's wrapping)."""
    orig = getattr(exc, "orig", None)
    return (str(orig or exc).strip().splitlines() or [type(exc).__name__])[0]


_LOCK_ID = 0x6B657968  # "keyh": one advisory lock for all Keyhouse migrations


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", "keyhouse.store:migrations")
    return cfg


def migrate(engine: Engine) -> None:
    """Upgrade the schema to head. On PostgreSQL, instances take turns under an advisory lock."""
    cfg = alembic_config()
    try:
        conn = engine.connect()
    except OperationalError as exc:
        raise StoreUnavailable(first_line(exc)) from exc
    with conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_lock(:id)"), {"id": _LOCK_ID})
            conn.commit()
        try:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
            conn.commit()
        finally:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": _LOCK_ID})
                conn.commit()
