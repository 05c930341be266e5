"""A Hypothesis state machine: the real use-cases on a real SQLite file against a simple model."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import hypothesis.strategies as st
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from keyhouse.app import build_services
from keyhouse.config import load_settings
from keyhouse.domain.errors import DomainError
from keyhouse.domain.model import KeyStatus, Principal
from keyhouse.services.base import UserRef


class MovableClock:
    def __init__(self) -> None:
        self.instant = datetime(2026, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        self.instant += timedelta(microseconds=1)  # every event has its own instant
        return self.instant


@dataclass
class Model:
    live: dict[str, str] = field(default_factory=dict)  # key -> "Active" | "Inactive"
    binned: list[tuple[str, datetime]] = field(
        default_factory=list
    )  # (key, delete_at), oldest first
    user_binned: bool = False
    user_delete_at: datetime | None = None
    user_gone: bool = False
    created: dict[str, int] = field(default_factory=dict)  # key -> creation order


class Lifecycle(RuleBasedStateMachine):
    @initialize()
    def setup(self) -> None:
        self.dir = tempfile.TemporaryDirectory()
        path = Path(self.dir.name)
        self.clock = MovableClock()
        self.svc = build_services(
            load_settings({}, {"KEYHOUSE_DATABASE_URL": f"sqlite:///{path}/k.db"}), self.clock
        )
        account, _ = self.svc.accounts.create("model")
        self.root = Principal("root", account.account_id)
        user, _ = self.svc.users.create(self.root, UserRef.name("u"), None)
        self.user_id = user.user_id
        self.ref = UserRef.id(self.user_id)
        self.model = Model()

    def teardown(self) -> None:
        if hasattr(self, "svc"):
            self.svc.store.dispose()
            self.dir.cleanup()

    def _ok(self, fn, *args):  # type: ignore[no-untyped-def]
        try:
            return True, fn(*args)
        except DomainError as exc:
            return False, exc.code

    def _pick(self, data: st.DataObject, pool: list[str]) -> str:
        # Insertion order, never sorted: the IDs are random, so sorting would make the same
        # draw pick a different key when Hypothesis replays a case.
        return data.draw(st.sampled_from(pool))

    @precondition(lambda self: not self.model.user_binned and not self.model.user_gone)
    @rule()
    def create(self) -> None:
        ok, result = self._ok(self.svc.keys.create, self.root, self.ref)
        assert ok == (len(self.model.live) < 2), result
        if ok:
            self.model.live[result.key.access_key_id] = "Active"
            self.model.created[result.key.access_key_id] = len(self.model.created)

    @precondition(lambda self: self.model.live and not self.model.user_binned)
    @rule(data=st.data(), status=st.sampled_from(["Active", "Inactive"]))
    def set_status(self, data: st.DataObject, status: str) -> None:
        key = self._pick(data, list(self.model.live))
        self.svc.keys.set_status(self.root, self.ref, key, KeyStatus(status))
        self.model.live[key] = status

    @precondition(lambda self: self.model.live and not self.model.user_binned)
    @rule(data=st.data())
    def delete(self, data: st.DataObject) -> None:
        self.delete_key(self._pick(data, list(self.model.live)))

    def delete_key(self, key: str) -> None:
        ok, code = self._ok(self.svc.keys.delete, self.root, self.ref, key)
        if self.model.live[key] == "Active":
            assert (ok, code) == (False, "conflict.access_key.active")
            return
        assert ok, code
        del self.model.live[key]
        self.model.binned.append((key, self.clock.instant + timedelta(days=30)))
        self.model.binned = self.model.binned[-3:]

    @precondition(lambda self: self.model.live and not self.model.user_binned)
    @rule(data=st.data())
    def retire(self, data: st.DataObject) -> None:
        """Disable then delete: the console's usual path, and it fills the bin quickly."""
        key = self._pick(data, list(self.model.live))
        self.svc.keys.set_status(self.root, self.ref, key, KeyStatus.INACTIVE)
        self.model.live[key] = "Inactive"
        self.delete_key(key)

    @precondition(lambda self: len(self.model.live) < 2 and not self.model.user_binned)
    @rule()
    def churn(self) -> None:
        """Create a key and retire it at once: four of these overflow the bin."""
        self.create()
        newest = list(self.model.live)[-1]
        self.svc.keys.set_status(self.root, self.ref, newest, KeyStatus.INACTIVE)
        self.model.live[newest] = "Inactive"
        self.delete_key(newest)

    @precondition(lambda self: self.model.binned and not self.model.user_gone)
    @rule(data=st.data())
    def restore(self, data: st.DataObject) -> None:
        key = self._pick(data, [k for k, _ in self.model.binned])
        ok, code = self._ok(self.svc.keys.restore, self.root, self.user_id, key)
        if self.model.user_binned:
            assert (ok, code) == (False, "conflict.user.in_recycle_bin")
        elif len(self.model.live) >= 2:
            assert (ok, code) == (False, "limit_exceeded.user.access_key")
        else:
            assert ok, code
            self.model.binned = [(k, d) for k, d in self.model.binned if k != key]
            self.model.live[key] = "Active"

    @precondition(lambda self: self.model.binned)
    @rule(data=st.data())
    def purge(self, data: st.DataObject) -> None:
        key = self._pick(data, [k for k, _ in self.model.binned])
        self.svc.keys.purge(self.root, self.user_id, key)
        self.model.binned = [(k, d) for k, d in self.model.binned if k != key]

    @precondition(lambda self: not self.model.user_binned)
    @rule()
    def delete_user(self) -> None:
        ok, code = self._ok(self.svc.users.delete, self.root, self.ref)
        if "Active" in self.model.live.values():
            assert (ok, code) == (False, "conflict.user.access_key")
            return
        assert ok, code
        self.model.user_binned = True
        self.model.user_delete_at = self.clock.instant + timedelta(days=30)
        in_creation_order = sorted(self.model.live, key=self.model.created.__getitem__)
        moved = [(k, self.model.user_delete_at) for k in in_creation_order]
        self.model.binned = (self.model.binned + moved)[-3:]
        self.model.live.clear()

    @precondition(lambda self: self.model.user_binned and not self.model.user_gone)
    @rule()
    def restore_user(self) -> None:
        self.svc.users.restore(self.root, self.user_id)
        self.model.user_binned = False
        self.model.user_delete_at = None

    @rule(days=st.integers(min_value=1, max_value=20))
    def time_passes_and_the_sweep_runs(self, days: int) -> None:
        self.clock.instant += timedelta(days=days)
        self.svc.sweeper.sweep()
        self.model.binned = [(k, d) for k, d in self.model.binned if d > self.clock.instant]
        expiry = self.model.user_delete_at
        if self.model.user_binned and expiry is not None and expiry <= self.clock.instant:
            self.model.user_gone = True  # purged, and every key it had with it
            self.model.binned = []

    @invariant()
    def store_matches_model(self) -> None:
        if not hasattr(self, "svc"):
            return
        if self.model.user_gone:
            ok, code = self._ok(self.svc.users.get_in_bin, self.root, self.ref)
            assert (ok, code) == (False, "not_found.user")
            return
        binned = [k.access_key_id for k in self.svc.keys.list_bin(self.root, self.user_id)]
        assert sorted(binned) == sorted(k for k, _ in self.model.binned)
        if self.model.user_binned:
            return
        live = {
            k.access_key_id: k.status.value for k in self.svc.keys.list_live(self.root, self.ref)
        }
        assert live == self.model.live


Lifecycle.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestLifecycle = Lifecycle.TestCase
