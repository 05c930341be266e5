"""A running server's keyring follows its key file: a changed file is read once, a file that
cannot be read is reported once (not at every look), and the keys in use are kept meanwhile."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from keyhouse.crypto import MasterKey, write_key_file
from keyhouse.keyring import KeyFileWatch


def test_the_watch_reads_a_changed_file_once_and_reports_a_broken_one_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "k.key"
    first = MasterKey.generate()
    write_key_file(path, [first])
    watch = KeyFileWatch(path)
    assert watch() is None  # unchanged since it was opened
    path.write_text("not a key\n")
    with caplog.at_level(logging.ERROR, logger="keyhouse.keyring"):
        assert watch() is None
        assert watch() is None
        assert watch() is None
    assert len(caplog.records) == 1 and "cannot be read" in caplog.text
    assert "not a key" not in caplog.text
    second = MasterKey.generate()
    write_key_file(path, [second, first])
    assert watch() == [second, first]
    assert watch() is None
