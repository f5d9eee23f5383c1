"""The keys file format on its own: every byte counts, the cost travels in the header, the
passphrase rule holds. A cheap key derivation keeps the exhaustive checks fast; the command-line
tests use the real cost."""

from __future__ import annotations

import json
import time
import unicodedata
from pathlib import Path

import pytest

from portal.config import environment_overrides
from portal.crypto.passphrase_seal import DEFAULT_KDF, KdfParams
from portal.services.keys_file import (
    KeyMaterial,
    KeysFileError,
    KeysFileUnreadable,
    WeakPassphrase,
    WrongPassphrase,
    check_new_passphrase,
    read_keys_file,
    seal_keys,
)

PASSPHRASE = "seven sealed envelopes under the lime tree"
CHEAP = KdfParams(iterations=1, lanes=1, memory_kib=64)
KEYS = KeyMaterial(
    secrets={"secret_key": "c2VjcmV0LWtleS1vZi10aGUtaW5zdGFuY2UtMDAwMDA=", "audit_key": "QUJD"},
    master_keys={"k20250601abc": "bWFzdGVyLWtleS1vZi10aGUtaW5zdGFuY2UtMDAwMDA="},
    active_id="k20250601abc",
)


def _write(path: Path, kdf: KdfParams = CHEAP, passphrase: str = PASSPHRASE) -> Path:
    path.write_bytes(
        seal_keys(KEYS, passphrase, backup_id="b" * 32, created_at="2025-06-01T09:00:00", kdf=kdf)
    )
    return path


@pytest.mark.slow
def test_every_single_bit_flip_anywhere_in_the_file_is_refused(tmp_path: Path) -> None:
    original = _write(tmp_path / "keys.json").read_bytes()
    assert read_keys_file(tmp_path / "keys.json").open(PASSPHRASE) == KEYS
    altered = tmp_path / "altered.json"
    for position in range(len(original)):
        for bit in range(8):
            data = bytearray(original)
            data[position] ^= 1 << bit
            altered.write_bytes(bytes(data))
            with pytest.raises(KeysFileError):
                read_keys_file(altered).open(PASSPHRASE)


def test_the_key_derivation_cost_is_read_from_the_header(tmp_path: Path) -> None:
    raised = KdfParams(iterations=2, lanes=2, memory_kib=256)
    path = _write(tmp_path / "keys.json", kdf=raised)
    header = json.loads(path.read_text())
    assert {k: header["kdf"][k] for k in ("iterations", "lanes", "memory_kib")} == {
        "iterations": 2,
        "lanes": 2,
        "memory_kib": 256,
    }
    assert read_keys_file(path).open(PASSPHRASE) == KEYS
    # The default a backup uses: at least RFC 9106's second recommended option.
    assert DEFAULT_KDF.memory_kib >= 64 * 1024 and DEFAULT_KDF.iterations >= 3


@pytest.mark.parametrize(
    ("name", "value"),
    [("memory_kib", 1 << 40), ("iterations", 100_000), ("lanes", 0), ("memory_kib", 4)],
)
def test_a_forged_cost_is_refused_before_any_key_derivation(
    tmp_path: Path, name: str, value: int
) -> None:
    path = _write(tmp_path / "keys.json")
    document = json.loads(path.read_text())
    document["kdf"][name] = value
    path.write_text(json.dumps(document))
    started = time.monotonic()
    with pytest.raises(KeysFileUnreadable, match="out of the accepted range"):
        read_keys_file(path).open(PASSPHRASE)
    assert time.monotonic() - started < 1


def test_a_wrong_passphrase_is_told_apart_from_an_unreadable_file(tmp_path: Path) -> None:
    path = _write(tmp_path / "keys.json")
    with pytest.raises(WrongPassphrase, match="the passphrase is wrong, or the file was altered"):
        read_keys_file(path).open(PASSPHRASE.upper())
    with pytest.raises(WrongPassphrase, match="it needs a passphrase"):
        read_keys_file(path).open(None)
    (tmp_path / "archive.tar").write_bytes(b"\0" * (2 * 1024 * 1024))
    with pytest.raises(KeysFileUnreadable, match="not a keys file"):
        read_keys_file(tmp_path / "archive.tar")


def test_the_passphrase_rule(tmp_path: Path) -> None:
    for short in ("", "fifteen chars..", unicodedata.normalize("NFD", "é" * 15)):
        with pytest.raises(WeakPassphrase, match="at least 16 characters"):
            check_new_passphrase(short)
        with pytest.raises(WeakPassphrase):
            _write(tmp_path / "never.json", passphrase=short)
    assert not (tmp_path / "never.json").exists()
    check_new_passphrase("sixteen chars..!")
    # The same words typed composed or decomposed (another keyboard, another system) open it.
    composed = unicodedata.normalize("NFC", "clé à molette, déjà vu")
    path = _write(tmp_path / "keys.json", passphrase=composed)
    decomposed = unicodedata.normalize("NFD", composed)
    assert decomposed != composed
    assert read_keys_file(path).open(decomposed) == KEYS


def test_the_readmes_passphrase_variable_never_reaches_the_app_config() -> None:
    env = {"PORTAL_BACKUP_PASSPHRASE": PASSPHRASE, "PORTAL_SLA_HOURS": "4"}
    assert environment_overrides({}, env) == {"SLA_HOURS": 4}
