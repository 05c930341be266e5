"""Use-cases tested in process: the real services on a real SQLite file, no server, no HTTP.

Each test gets a fresh account in a store shared by its module; the clock is one the test
moves."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from keyhouse.app import build_services
from keyhouse.config import load_settings
from keyhouse.domain.model import Account, Principal
from keyhouse.services.registry import Services


class MovableClock:
    """A clock the test moves; every reading is a microsecond later (events need their own
    instant)."""

    def __init__(self) -> None:
        self.instant = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        self.instant += timedelta(microseconds=1)
        return self.instant

    def advance(self, **delta: float) -> None:
        self.instant += timedelta(**delta)


@dataclass
class House:
    svc: Services
    clock: MovableClock
    account: Account
    root: Principal


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Services, MovableClock]]:
    path: Path = tmp_path_factory.mktemp("services")
    clock = MovableClock()
    settings = load_settings({}, {"KEYHOUSE_DATABASE_URL": f"sqlite:///{path}/k.db"})
    svc = build_services(settings, clock)
    yield svc, clock
    svc.store.dispose()


@pytest.fixture
def house(services: tuple[Services, MovableClock]) -> House:
    svc, clock = services
    account, _ = svc.accounts.create(f"a{uuid.uuid4().hex[:12]}")
    return House(svc, clock, account, Principal("root", account.account_id))
