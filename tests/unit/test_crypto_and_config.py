"""Secrets sealed at rest, and the configuration loader."""

from __future__ import annotations

from pathlib import Path

import pytest

from keyhouse.config import ConfigError, load_settings
from keyhouse.crypto import (
    MasterKey,
    MasterKeyError,
    Sealed,
    SecretBox,
    create_key_file,
    parse_keyring,
)


def test_a_sealed_secret_opens_only_for_its_own_access_key_id() -> None:
    box = SecretBox([MasterKey.generate()])
    sealed = box.seal("LTAIaaaa", "the-secret")
    assert b"the-secret" not in sealed.blob
    assert box.open("LTAIaaaa", sealed) == "the-secret"
    with pytest.raises(MasterKeyError):
        box.open("LTAIbbbb", sealed)


def test_sealing_twice_gives_different_ciphertexts() -> None:
    box = SecretBox([MasterKey.generate()])
    assert box.seal("LTAI", "s").blob != box.seal("LTAI", "s").blob


def test_a_rotated_keyring_seals_with_the_new_key_and_opens_with_the_old() -> None:
    old, new = MasterKey.generate(), MasterKey.generate()
    sealed_before = SecretBox([old]).seal("LTAI", "s")
    rotated = SecretBox(parse_keyring(f"{new.encode()},{old.encode()}"))
    assert rotated.open("LTAI", sealed_before) == "s"
    assert rotated.seal("LTAI", "s").key_id == new.key_id


def test_a_wrong_or_unknown_master_key_is_refused() -> None:
    sealed = SecretBox([MasterKey.generate()]).seal("LTAI", "s")
    with pytest.raises(MasterKeyError, match="no master key with id"):
        SecretBox([MasterKey.generate()]).open("LTAI", sealed)
    impostor = MasterKey(sealed.key_id, MasterKey.generate().material)
    with pytest.raises(MasterKeyError, match="does not open"):
        SecretBox([impostor]).open("LTAI", Sealed(sealed.key_id, sealed.blob))


def test_the_key_file_is_private_and_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "k" / "master.key"
    keys = create_key_file(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert parse_keyring(path.read_text()) == keys
    with pytest.raises(FileExistsError):
        create_key_file(path)


@pytest.mark.parametrize("text", ["nokey", "id:", "id:c2hvcnQ=", ":" + "A" * 44])
def test_malformed_master_keys_are_refused(text: str) -> None:
    with pytest.raises(MasterKeyError):
        parse_keyring(text)


def test_settings_come_from_flags_then_environment_then_defaults() -> None:
    s = load_settings({"port": 9000}, {"KEYHOUSE_PORT": "9100", "KEYHOUSE_SWEEP_INTERVAL": "5"})
    assert (s.port, s.sweep_interval, s.host) == (9000, 5.0, "127.0.0.1")
    assert load_settings({}, {"KEYHOUSE_PORT": "9100"}).port == 9100


def test_settings_hide_the_master_key_and_database_password() -> None:
    s = load_settings(
        {},
        {
            "KEYHOUSE_MASTER_KEY": "k:secretvalue",
            "KEYHOUSE_DATABASE_URL": "postgresql+psycopg://u:hunter2@h/db",
        },
    )
    assert "secretvalue" not in repr(s) and "hunter2" not in repr(s)


@pytest.mark.parametrize(
    "env",
    [
        {"KEYHOUSE_PORT": "eighty"},
        {"KEYHOUSE_PORT": "70000"},
        {"KEYHOUSE_DATABASE_URL": "mysql://x"},
        {"KEYHOUSE_SWEEP_INTERVAL": "0"},
        {"KEYHOUSE_NONCE_WINDOW": "60"},
    ],
)
def test_bad_settings_are_refused_at_start_up(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        load_settings({}, env)


def test_the_key_file_defaults_to_beside_the_sqlite_file(tmp_path: Path) -> None:
    s = load_settings({}, {"KEYHOUSE_DATABASE_URL": f"sqlite:///{tmp_path}/data/k.db"})
    assert s.key_file_path() == tmp_path / "data" / "k.key"
