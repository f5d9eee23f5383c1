"""Encryption layer: streaming evidence format, wrapped file keys, field tokens, master keys."""

from __future__ import annotations

import base64
import os
import re
import stat
from collections.abc import Iterable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.crypto.keyring import (
    HEADER_SIZE,
    TAG_SIZE,
    DecryptionError,
    Keyring,
    KeyringError,
    MissingMasterKey,
    TamperedStream,
    TruncatedStream,
    UnknownKeyId,
    WrappedKey,
    create_master_key,
    new_file_key,
    retire_master_key,
)
from portal.crypto.streaming import StreamEncryptor, decrypt_stream, encrypt_stream

CS = 64 * 1024
AAD = b"EB-2026-7K3QX:42"


def encrypt(
    data: bytes, key: bytes, aad: bytes = AAD, chunk_size: int = CS, piece: int = 10_000
) -> bytes:
    encryptor = StreamEncryptor(key, aad, chunk_size)
    out = [encryptor.header()]
    for start in range(0, len(data), piece):
        out.append(encryptor.update(data[start : start + piece]))
    out.append(encryptor.finalize())
    return b"".join(out)


def pieces(blob: bytes, size: int) -> list[bytes]:
    return [blob[start : start + size] for start in range(0, len(blob), size)]


def decrypt(blob: bytes | Iterable[bytes], key: bytes, aad: bytes = AAD) -> bytes:
    source = [blob] if isinstance(blob, bytes) else blob
    return b"".join(decrypt_stream(key, aad, source))


def sealed_chunks(blob: bytes, chunk_size: int) -> tuple[bytes, list[bytes]]:
    """Split a stream into its header and sealed chunks."""
    return blob[:HEADER_SIZE], pieces(blob[HEADER_SIZE:], chunk_size + TAG_SIZE)


@pytest.fixture
def key() -> bytes:
    return new_file_key()


# Streaming AEAD


@pytest.mark.parametrize(
    "size", [0, 1, CS - 1, CS, CS + 1, 2 * CS, 3 * CS + 5, 5 * 1024 * 1024 + 3]
)
def test_round_trip_sizes(key: bytes, size: int) -> None:
    data = os.urandom(size)
    blob = encrypt(data, key)
    # Every chunk but the last is full; the last may be empty.
    assert len(blob) == HEADER_SIZE + size + TAG_SIZE * (size // CS + 1)
    assert decrypt(blob, key) == data
    for read_size in (7, 4096, CS + TAG_SIZE, 1 << 20):
        if size > 1 << 20 and read_size < 4096:
            continue
        assert decrypt(pieces(blob, read_size), key) == data


def test_header_layout(key: bytes) -> None:
    encryptor = StreamEncryptor(key, AAD, chunk_size=4096)
    header = encryptor.header()
    assert len(header) == HEADER_SIZE == 16
    assert header[:4] == b"EBEV"
    assert header[4] == 1
    assert int.from_bytes(header[5:9], "big") == 4096
    assert StreamEncryptor(key, AAD, 4096).header()[9:] != header[9:]


def test_format_matches_specification(key: bytes) -> None:
    """Decrypt by hand from the documented layout, as an independent tool would."""
    data = os.urandom(2 * 16 + 5)
    blob = encrypt(data, key, chunk_size=16)
    header, chunks = sealed_chunks(blob, 16)
    prefix = header[9:16]
    cipher = AESGCM(key)
    opened = []
    for index, sealed in enumerate(chunks):
        last = b"\x01" if index == len(chunks) - 1 else b"\x00"
        nonce = prefix + index.to_bytes(4, "big") + last
        opened.append(cipher.decrypt(nonce, sealed, header + AAD))
    assert b"".join(opened) == data
    assert [len(chunk) for chunk in opened] == [16, 16, 5]


@settings(max_examples=200, deadline=None)
@given(
    data=st.binary(max_size=3000),
    chunk_size=st.integers(min_value=1, max_value=300),
    write_piece=st.integers(min_value=1, max_value=700),
    read_piece=st.integers(min_value=1, max_value=900),
)
def test_round_trip_random(data: bytes, chunk_size: int, write_piece: int, read_piece: int) -> None:
    key = new_file_key()
    blob = encrypt(data, key, chunk_size=chunk_size, piece=write_piece)
    assert decrypt(pieces(blob, read_piece), key) == data


def test_encrypt_stream_helper_matches_format(key: bytes) -> None:
    data = os.urandom(3 * CS + 1)
    blob = b"".join(encrypt_stream(key, AAD, pieces(data, 5000)))
    assert decrypt(blob, key) == data


@settings(max_examples=40, deadline=None)
@given(
    data=st.binary(min_size=0, max_size=5000),
    chunk_size=st.integers(min_value=1, max_value=700),
    write_piece=st.integers(min_value=1, max_value=1500),
)
def test_views_of_the_reused_buffer_written_at_once_make_a_valid_stream(
    data: bytes, chunk_size: int, write_piece: int
) -> None:
    # The intake writes each view out before the next piece overwrites the buffer beneath it.
    key = new_file_key()
    encryptor = StreamEncryptor(key, AAD, chunk_size)
    written = bytearray(encryptor.header())
    for start in range(0, len(data), write_piece):
        written += encryptor.update_view(data[start : start + write_piece])
    written += encryptor.finalize()
    assert decrypt(bytes(written), key) == data


def test_update_emits_each_complete_chunk_at_once(key: bytes) -> None:
    encryptor = StreamEncryptor(key, AAD, chunk_size=16)
    assert encryptor.update(b"a" * 15) == b""
    assert len(encryptor.update(b"b")) == 16 + TAG_SIZE
    assert len(encryptor.update(b"c" * 40)) == 2 * (16 + TAG_SIZE)
    assert len(encryptor.finalize()) == 8 + TAG_SIZE
    with pytest.raises(ValueError):
        encryptor.update(b"late")
    with pytest.raises(ValueError):
        encryptor.finalize()


def test_update_accepts_any_buffer(key: bytes) -> None:
    data = os.urandom(CS + 100)
    encryptor = StreamEncryptor(key, AAD)
    blob = (
        encryptor.header()
        + encryptor.update(bytearray(data[:50]))
        + encryptor.update(memoryview(data)[50:])
        + encryptor.finalize()
    )
    assert decrypt(blob, key) == data


def test_plaintext_never_appears_in_ciphertext(key: bytes) -> None:
    data = b"Sextortion message from @blackmailer: pay 5000 MAD or I publish. " * 5000
    blob = encrypt(data, key)
    for start in range(0, len(data) - 16, 997):
        assert data[start : start + 16] not in blob
    assert b"blackmailer" not in blob


def test_same_file_encrypts_differently_each_time(key: bytes) -> None:
    data = b"identical evidence" * 100
    assert encrypt(data, key) != encrypt(data, key)


def test_every_single_byte_flip_is_detected(key: bytes) -> None:
    data = os.urandom(50)
    blob = encrypt(data, key, chunk_size=16)
    for position in range(len(blob)):
        for flip in (0x01, 0x80):
            doctored = bytearray(blob)
            doctored[position] ^= flip
            with pytest.raises(TamperedStream):
                decrypt(bytes(doctored), key)


def test_tampered_stream_is_a_decryption_error(key: bytes) -> None:
    assert issubclass(TamperedStream, DecryptionError)
    assert issubclass(TruncatedStream, DecryptionError)


def test_nothing_is_released_from_a_tampered_chunk(key: bytes) -> None:
    data = os.urandom(5 * 16)
    blob = bytearray(encrypt(data, key, chunk_size=16))
    # Corrupt the tag of chunk 2: chunks 0 and 1 may be released, nothing after.
    blob[HEADER_SIZE + 3 * (16 + TAG_SIZE) - 1] ^= 0x01
    received: list[bytes] = []
    with pytest.raises(TamperedStream):
        for plaintext in decrypt_stream(key, AAD, pieces(bytes(blob), 5)):
            received.append(plaintext)
    assert b"".join(received) == data[: 2 * 16]


@pytest.mark.parametrize("size", [4 * 16 + 5, 4 * 16])
def test_truncation_at_each_chunk_boundary(key: bytes, size: int) -> None:
    data = os.urandom(size)
    blob = encrypt(data, key, chunk_size=16)
    header, chunks = sealed_chunks(blob, 16)
    assert len(chunks) == 5
    for kept in range(len(chunks)):
        truncated = header + b"".join(chunks[:kept])
        with pytest.raises(TruncatedStream):
            decrypt(pieces(truncated, 7), key)


def test_empty_or_headless_stream_is_truncated(key: bytes) -> None:
    blob = encrypt(b"", key)
    with pytest.raises(TruncatedStream):
        decrypt([], key)
    with pytest.raises(TruncatedStream):
        decrypt(b"", key)
    with pytest.raises(TruncatedStream):
        decrypt(blob[: HEADER_SIZE - 1], key)
    with pytest.raises(TruncatedStream):
        decrypt(blob[:HEADER_SIZE], key)


def test_truncation_inside_a_chunk_fails(key: bytes) -> None:
    data = os.urandom(CS * 2 + 100)
    blob = encrypt(data, key)
    for cut in (HEADER_SIZE + 1, HEADER_SIZE + CS, len(blob) - 1, len(blob) - TAG_SIZE - 1):
        with pytest.raises(DecryptionError):
            decrypt(blob[:cut], key)


def test_dropping_the_final_chunk_is_detected(key: bytes) -> None:
    data = os.urandom(3 * 16 + 4)
    header, chunks = sealed_chunks(encrypt(data, key, chunk_size=16), 16)
    with pytest.raises(TruncatedStream):
        decrypt(header + b"".join(chunks[:-1]), key)


def test_dropping_a_middle_chunk_is_detected(key: bytes) -> None:
    header, chunks = sealed_chunks(encrypt(os.urandom(5 * 16), key, chunk_size=16), 16)
    with pytest.raises(TamperedStream):
        decrypt(header + b"".join(chunks[:2] + chunks[3:]), key)


def test_swapping_chunks_is_detected(key: bytes) -> None:
    header, chunks = sealed_chunks(encrypt(os.urandom(5 * 16), key, chunk_size=16), 16)
    chunks[1], chunks[2] = chunks[2], chunks[1]
    with pytest.raises(TamperedStream):
        decrypt(header + b"".join(chunks), key)


def test_duplicating_a_chunk_is_detected(key: bytes) -> None:
    header, chunks = sealed_chunks(encrypt(os.urandom(3 * 16), key, chunk_size=16), 16)
    with pytest.raises(TamperedStream):
        decrypt(header + b"".join(chunks[:2] + chunks[1:]), key)


@pytest.mark.parametrize("size", [0, 10, 16, 40])
def test_trailing_bytes_after_final_chunk_are_detected(key: bytes, size: int) -> None:
    blob = encrypt(os.urandom(size), key, chunk_size=16)
    _, chunks = sealed_chunks(blob, 16)
    for garbage in (b"\x00", os.urandom(TAG_SIZE), os.urandom(16 + TAG_SIZE), chunks[-1]):
        with pytest.raises(TamperedStream):
            decrypt(blob + garbage, key)


def test_chunks_spliced_from_another_file_are_detected(key: bytes) -> None:
    first = encrypt(os.urandom(3 * 16), key, chunk_size=16)
    second = encrypt(os.urandom(3 * 16), key, chunk_size=16)
    header, chunks = sealed_chunks(first, 16)
    _, foreign = sealed_chunks(second, 16)
    with pytest.raises(TamperedStream):
        decrypt(header + chunks[0] + foreign[1] + chunks[2] + chunks[3], key)


def test_wrong_aad_is_detected(key: bytes) -> None:
    blob = encrypt(b"evidence of report one", key)
    with pytest.raises(TamperedStream):
        decrypt(blob, key, aad=b"EB-2026-OTHER:42")


def test_wrong_key_is_detected(key: bytes) -> None:
    blob = encrypt(b"evidence", key)
    with pytest.raises(TamperedStream):
        decrypt(blob, new_file_key())


@pytest.mark.parametrize(
    "header",
    [
        b"XXXX\x01" + (16).to_bytes(4, "big") + bytes(7),
        b"EBEV\x02" + (16).to_bytes(4, "big") + bytes(7),
        b"EBEV\x01" + (0).to_bytes(4, "big") + bytes(7),
        b"EBEV\x01" + (1 << 30).to_bytes(4, "big") + bytes(7),
    ],
)
def test_bad_header_is_rejected(key: bytes, header: bytes) -> None:
    with pytest.raises(TamperedStream):
        decrypt(header + bytes(64), key)


def test_invalid_chunk_size_is_refused(key: bytes) -> None:
    with pytest.raises(ValueError):
        StreamEncryptor(key, AAD, chunk_size=0)
    with pytest.raises(ValueError):
        StreamEncryptor(key, AAD, chunk_size=(16 << 20) + 1)


def test_file_keys_are_fresh_and_256_bit() -> None:
    keys = {new_file_key() for _ in range(100)}
    assert len(keys) == 100
    assert all(len(k) == 32 for k in keys)


# Keyring: wrapped file keys and field tokens


def make_keyring(*kids: str) -> Keyring:
    return Keyring({kid: os.urandom(32) for kid in kids}, kids[-1])


def test_wrap_unwrap_round_trip() -> None:
    keyring = make_keyring("k20261123a")
    file_key = new_file_key()
    wrapped = keyring.wrap_key(file_key, b"evidence:17")
    assert isinstance(wrapped, WrappedKey)
    assert wrapped.key_id == "k20261123a"
    assert len(wrapped.blob) == 12 + 32 + 16
    assert file_key not in wrapped.blob
    assert keyring.unwrap_key(wrapped.key_id, wrapped.blob, b"evidence:17") == file_key


def test_unwrap_with_wrong_aad_fails() -> None:
    keyring = make_keyring("k20261123a")
    wrapped = keyring.wrap_key(new_file_key(), b"evidence:17")
    with pytest.raises(DecryptionError):
        keyring.unwrap_key(wrapped.key_id, wrapped.blob, b"evidence:18")


def test_unwrap_tampered_or_short_blob_fails() -> None:
    keyring = make_keyring("k20261123a")
    wrapped = keyring.wrap_key(new_file_key(), b"evidence:17")
    for position in range(len(wrapped.blob)):
        doctored = bytearray(wrapped.blob)
        doctored[position] ^= 0x01
        with pytest.raises(DecryptionError):
            keyring.unwrap_key(wrapped.key_id, bytes(doctored), b"evidence:17")
    with pytest.raises(DecryptionError):
        keyring.unwrap_key(wrapped.key_id, wrapped.blob[:20], b"evidence:17")


def test_unwrap_under_another_master_key_fails() -> None:
    first, second = make_keyring("k1"), make_keyring("k1")
    wrapped = first.wrap_key(new_file_key(), b"evidence:1")
    with pytest.raises(DecryptionError):
        second.unwrap_key(wrapped.key_id, wrapped.blob, b"evidence:1")


def test_unknown_key_id_is_reported() -> None:
    keyring = make_keyring("k1")
    wrapped = keyring.wrap_key(new_file_key(), b"a")
    with pytest.raises(UnknownKeyId):
        keyring.unwrap_key("k2", wrapped.blob, b"a")
    assert issubclass(UnknownKeyId, DecryptionError)


def test_field_round_trip_and_context_binding() -> None:
    keyring = make_keyring("k20261123a")
    text = "تهديد بنشر صور خاصة — menace de publier des photos"
    token = keyring.encrypt_field(text, "report.description:EB-1")
    assert keyring.decrypt_field(token, "report.description:EB-1") == text
    assert text.encode() not in token
    assert b"menace" not in token
    assert "تهديد".encode() not in token
    assert keyring.field_key_id(token) == "k20261123a"
    for other in ("report.description:EB-2", "message.body:EB-1", ""):
        with pytest.raises(DecryptionError):
            keyring.decrypt_field(token, other)


def test_equal_fields_encrypt_differently() -> None:
    keyring = make_keyring("k1")
    assert keyring.encrypt_field("same", "c") != keyring.encrypt_field("same", "c")


def test_every_field_byte_flip_is_detected() -> None:
    keyring = make_keyring("k1", "k2")
    token = keyring.encrypt_field("reporter contact: +212 600 000000", "report.contact:EB-9")
    for position in range(len(token)):
        doctored = bytearray(token)
        doctored[position] ^= 0x01
        with pytest.raises(DecryptionError):
            keyring.decrypt_field(bytes(doctored), "report.contact:EB-9")


@pytest.mark.parametrize(
    "token", [b"", b"\x01", b"\x02\x02k1" + bytes(40), b"\x01\x02k1" + bytes(5)]
)
def test_malformed_field_tokens_fail(token: bytes) -> None:
    with pytest.raises(DecryptionError):
        make_keyring("k1").decrypt_field(token, "c")


def test_field_token_is_not_a_wrapped_key() -> None:
    keyring = make_keyring("k1")
    token = keyring.encrypt_field("x" * 32, "evidence:1")
    prefix, body = token[:4], token[4:]
    # Not even an aad crafted to reproduce the field's associated data opens it as a file key.
    for aad in (b"evidence:1", prefix + b"evidence:1", prefix + b"eb-field\x00evidence:1"):
        with pytest.raises(DecryptionError):
            keyring.unwrap_key("k1", body, aad)


def test_empty_field_round_trip() -> None:
    keyring = make_keyring("k1")
    assert keyring.decrypt_field(keyring.encrypt_field("", "c"), "c") == ""


def test_keyring_requires_its_active_key() -> None:
    with pytest.raises(MissingMasterKey):
        Keyring({"k1": os.urandom(32)}, "k2")
    with pytest.raises(KeyringError):
        Keyring({"k1": os.urandom(16)}, "k1")
    for bad_kid in ("../k1", "k1\n", "", "k" * 65):
        with pytest.raises(KeyringError):
            Keyring({bad_kid: os.urandom(32)}, bad_kid)


# Master key files and rotation


def test_create_master_key_files_and_permissions(tmp_path: Path) -> None:
    previous = os.umask(0)
    try:
        kid = create_master_key(tmp_path)
    finally:
        os.umask(previous)
    assert re.fullmatch(r"k\d{8}[0-9a-f]{6}", kid)
    keys_dir = tmp_path / "keys"
    key_file = keys_dir / f"{kid}.key"
    assert stat.S_IMODE(keys_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE((keys_dir / "ACTIVE").stat().st_mode) == 0o600
    assert (keys_dir / "ACTIVE").read_text().strip() == kid
    raw = key_file.read_text().strip()
    assert len(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))) == 32
    assert sorted(p.name for p in keys_dir.iterdir()) == sorted(["ACTIVE", f"{kid}.key"])


def test_rotation_rewrap_then_retire(tmp_path: Path) -> None:
    old_kid = create_master_key(tmp_path)
    old_ring = Keyring.load(tmp_path, {})
    assert old_ring.active_id == old_kid
    file_key = new_file_key()
    old_wrapped = old_ring.wrap_key(file_key, b"evidence:5")
    old_token = old_ring.encrypt_field("description", "report.description:EB-5")

    new_kid = create_master_key(tmp_path)
    assert new_kid != old_kid
    ring = Keyring.load(tmp_path, {})
    assert ring.active_id == new_kid
    assert set(ring.key_ids) == {old_kid, new_kid}
    # Old data still opens before it is re-wrapped.
    assert ring.unwrap_key(old_wrapped.key_id, old_wrapped.blob, b"evidence:5") == file_key
    new_wrapped = ring.rewrap(old_wrapped.key_id, old_wrapped.blob, b"evidence:5")
    new_token = ring.reencrypt_field(old_token, "report.description:EB-5")
    assert new_wrapped.key_id == new_kid
    assert ring.field_key_id(new_token) == new_kid

    assert retire_master_key(tmp_path, old_kid) is True
    assert retire_master_key(tmp_path, old_kid) is False
    ring = Keyring.load(tmp_path, {})
    assert ring.key_ids == (new_kid,)
    assert ring.unwrap_key(new_wrapped.key_id, new_wrapped.blob, b"evidence:5") == file_key
    assert ring.decrypt_field(new_token, "report.description:EB-5") == "description"
    with pytest.raises(UnknownKeyId):
        ring.unwrap_key(old_wrapped.key_id, old_wrapped.blob, b"evidence:5")
    with pytest.raises(UnknownKeyId):
        ring.decrypt_field(old_token, "report.description:EB-5")


def test_active_key_cannot_be_retired(tmp_path: Path) -> None:
    kid = create_master_key(tmp_path)
    with pytest.raises(KeyringError):
        retire_master_key(tmp_path, kid)
    assert Keyring.load(tmp_path, {}).active_id == kid


def test_missing_master_key_message(tmp_path: Path) -> None:
    with pytest.raises(MissingMasterKey) as excinfo:
        Keyring.load(tmp_path, {})
    assert "portal init" in str(excinfo.value)
    assert "PORTAL_MASTER_KEYS" in str(excinfo.value)


def test_active_pointing_at_missing_key(tmp_path: Path) -> None:
    kid = create_master_key(tmp_path)
    (tmp_path / "keys" / f"{kid}.key").unlink()
    create_master_key(tmp_path)
    (tmp_path / "keys" / "ACTIVE").write_text(f"{kid}\n")
    with pytest.raises(MissingMasterKey):
        Keyring.load(tmp_path, {})


def test_keys_without_active_file(tmp_path: Path) -> None:
    create_master_key(tmp_path)
    (tmp_path / "keys" / "ACTIVE").unlink()
    with pytest.raises(MissingMasterKey):
        Keyring.load(tmp_path, {})


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def test_environment_keys_replace_files(tmp_path: Path) -> None:
    create_master_key(tmp_path)
    file_ring = Keyring.load(tmp_path, {})
    file_token = file_ring.encrypt_field("secret", "c")
    first, second = os.urandom(32), os.urandom(32)
    env = {"PORTAL_MASTER_KEYS": f"kenv1:{b64(first)}, kenv2:{b64(second)}"}
    ring = Keyring.load(tmp_path, env)
    assert ring.key_ids == ("kenv1", "kenv2")
    assert ring.active_id == "kenv2"
    with pytest.raises(UnknownKeyId):
        ring.decrypt_field(file_token, "c")
    chosen = Keyring.load(tmp_path, {**env, "PORTAL_ACTIVE_KEY_ID": "kenv1"})
    assert chosen.active_id == "kenv1"
    token = chosen.encrypt_field("x", "c")
    assert Keyring({"kenv1": first}, "kenv1").decrypt_field(token, "c") == "x"


def test_environment_active_id_overrides_file(tmp_path: Path) -> None:
    old_kid = create_master_key(tmp_path)
    create_master_key(tmp_path)
    ring = Keyring.load(tmp_path, {"PORTAL_ACTIVE_KEY_ID": old_kid})
    assert ring.active_id == old_kid
    with pytest.raises(MissingMasterKey):
        Keyring.load(tmp_path, {"PORTAL_ACTIVE_KEY_ID": "knothere"})


def test_environment_without_keys_and_no_files(tmp_path: Path) -> None:
    with pytest.raises(MissingMasterKey):
        Keyring.load(tmp_path, {"PORTAL_MASTER_KEYS": " "})


@pytest.mark.parametrize(
    "value",
    [
        "kenv1",
        f"kenv1:{b64(os.urandom(16))}",
        "kenv1:not*base64!",
        # Lenient base64 would drop the stray character and accept the rest.
        "kenv1:" + b64(bytes(32))[:20] + "*" + b64(bytes(32))[20:] + "=",
        f"../x:{b64(os.urandom(32))}",
    ],
)
def test_malformed_environment_keys(tmp_path: Path, value: str) -> None:
    with pytest.raises(KeyringError):
        Keyring.load(tmp_path, {"PORTAL_MASTER_KEYS": value})


def test_repr_does_not_reveal_key_material() -> None:
    raw = os.urandom(32)
    keyring = Keyring({"k1": raw}, "k1")
    text = repr(keyring)
    assert "k1" in text
    assert raw.hex() not in text
    assert b64(raw) not in text
