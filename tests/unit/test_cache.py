"""The in-process read cache: bounded, and never mixing rows read under different epochs."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from keyhouse.crypto import Sealed
from keyhouse.domain.model import Account, KeyDeletion
from keyhouse.store.cache import CACHED_READS, CachedReads, CacheMiss, MemoryScope, ReadCache
from keyhouse.store.hot import Credential
from keyhouse.store.sql import MemoryTx, RecordingTx


def _account(account_id: str, epoch: int) -> Account:
    now = datetime.now(UTC)
    return Account(
        account_id, account_id, f"{account_id}.x", KeyDeletion.RECYCLE_BIN, now, False, 0, epoch
    )


def _credential(account_id: str) -> Credential:
    return Credential(account_id, None, None, "Active", False, Sealed("k", b"x"), False, None, None)


def test_rows_read_under_an_older_epoch_are_not_mixed_with_newer_ones() -> None:
    cache = ReadCache()
    cache.record_account(_account("a", 5))
    cache.record_credential("a", 4, "K1", _credential("a"))  # read before the change: dropped
    assert cache.credential("K1") is None
    cache.record_credential("a", 5, "K1", _credential("a"))
    assert cache.credential("K1") == (5, _credential("a"))
    cache.record_credential("a", 6, "K2", _credential("a"))  # newer: the old entry goes whole
    assert cache.credential("K1") is None
    assert cache.credential("K2") is not None
    entry = cache.entry("a")
    assert entry is not None and entry.account is None


def test_the_cache_is_bounded_by_accounts_and_by_rows() -> None:
    cache = ReadCache(max_accounts=3, max_rows=10)
    for n in range(5):
        cache.record_credential(f"a{n}", 0, f"K{n}", _credential(f"a{n}"))
    figures = cache.figures()
    assert figures.accounts == 3 and figures.evictions == 2
    assert cache.credential("K0") is None and cache.credential("K4") is not None
    for n in range(12):
        cache.record_credential("big", 0, f"B{n}", _credential("big"))
    assert cache.figures().rows <= 10


def test_memory_reads_miss_on_anything_not_cached_and_note_their_epochs() -> None:
    cache = ReadCache()
    cache.record_account(_account("a", 7))
    scope = MemoryScope(cache)
    tx = MemoryTx(scope)
    assert tx.get_account("a").cache_epoch == 7  # type: ignore[union-attr]
    assert scope.depends == {"a": 7}
    with pytest.raises(CacheMiss):
        tx.get_account("a", lock=True)
    with pytest.raises(CacheMiss):
        tx.list_live_keys("a", None)
    with pytest.raises(CacheMiss):
        tx.count_live_users("a")  # not served from memory at all
    cache.record_account(_account("a", 8))  # changed while the request was being answered
    with pytest.raises(CacheMiss):
        tx.get_account("a")


def test_both_stand_ins_override_exactly_the_cached_reads() -> None:
    """A read the cache holds is answered from memory and recorded by worker threads alike;
    a read added to one stand-in and not the other (or not to the Protocol) fails here."""
    declared = {name for name in vars(CachedReads) if not name.startswith("_")}
    assert declared == set(CACHED_READS)
    for stand_in in (MemoryTx, RecordingTx):
        overridden = {
            name for name in vars(stand_in) if name in declared or name.startswith("get_")
        }
        assert overridden == declared, stand_in
