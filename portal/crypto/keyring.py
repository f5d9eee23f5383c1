"""Encryption layer: master keyring, envelope encryption, field encryption, streaming AEAD.

Everything here is AES-256-GCM from ``cryptography``; this module only fixes formats, nonces
and associated data. Nothing in it knows about Flask or the database.

Master keys
-----------
A master key is 32 random bytes named by a short key id (``k20261123`` + random suffix). Keys
live in ``<instance>/keys/<kid>.key`` (base64url text, mode 0600, directory 0700) and
``<instance>/keys/ACTIVE`` names the key used for new encryption. ``PORTAL_MASTER_KEYS``
(``kid:base64url,kid2:base64url``) replaces the key files entirely when set, and
``PORTAL_ACTIVE_KEY_ID`` replaces ``ACTIVE``; without it the last key listed in
``PORTAL_MASTER_KEYS`` is active. Old keys stay loadable so existing data keeps decrypting until
everything is re-wrapped (``portal keys rotate``) and the old key is retired.

Wrapped file keys
-----------------
Each evidence file has its own random 256-bit key. ``Keyring.wrap_key`` seals it under the
active master key: ``blob = nonce(12) || AES-GCM(file_key)``, associated data
``b"eb-wrap\\x00" || caller aad``. The key id is stored next to the blob by the caller.

Field tokens (short database values)
------------------------------------
``version(1)=0x01 || len(kid)(1) || kid(ascii) || nonce(12) || AES-GCM(utf-8 plaintext)``, with
associated data ``version || len(kid) || kid || b"eb-field\\x00" || context``. The context names
the row and column (``report.description:<reference>``), so a token copied to another row or
column does not decrypt.

Streaming evidence format, version 1
------------------------------------
::

    header  = b"EBEV" || 0x01 || chunk_size (uint32 big-endian) || nonce_prefix (7 random bytes)
    chunk_i = AES-256-GCM(file_key, nonce_i, plaintext_i, header || aad)   (plaintext_i + 16 tag)
    nonce_i = nonce_prefix || i (uint32 big-endian) || last (0x01 on the final chunk, else 0x00)
    stream  = header || chunk_0 || chunk_1 || ... || chunk_n

The header is ``HEADER_SIZE`` = 16 bytes, laid out by ``STREAM_HEADER``. A stream holds at
most ``MAX_CHUNKS`` = 2**32 chunks, the range of the index. Every chunk except the final one
carries exactly ``chunk_size`` plaintext bytes; the final chunk carries 0 to ``chunk_size``
bytes (an empty final chunk is how a 0-byte file, or one that is an exact multiple of the chunk
size, ends).
``aad`` is chosen by the caller (report reference and evidence id) and binds the ciphertext to
its record. Because the index and the last flag are in the nonce and the header is in the
associated data, reordering, dropping, duplicating or appending chunks, editing the header, and
truncation are all detected. A reader yields a chunk's plaintext only after its tag verified; a
stream that ends cleanly on a chunk boundary without a final chunk raises ``TruncatedStream``,
every other failure (including a cut inside a chunk, which cannot be told apart from a forged
final chunk) raises ``TamperedStream``.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets
import struct
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from portal.storage.blobs import fsync_dir

KEY_SIZE = 32
NONCE_SIZE = 12
TAG_SIZE = 16

KEYS_DIRNAME = "keys"
ACTIVE_FILENAME = "ACTIVE"
KEY_FILE_SUFFIX = ".key"
ENV_MASTER_KEYS = "PORTAL_MASTER_KEYS"
ENV_ACTIVE_KEY_ID = "PORTAL_ACTIVE_KEY_ID"

# Key ids end up in file names and in field tokens (one length byte): keep them short and inert.
KEY_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}\Z")
_B64URL = re.compile(r"^[A-Za-z0-9_-]+={0,2}\Z")

FIELD_VERSION = 1
_WRAP_DOMAIN = b"eb-wrap\x00"
_FIELD_DOMAIN = b"eb-field\x00"

STREAM_MAGIC = b"EBEV"
STREAM_VERSION = 1
NONCE_PREFIX_SIZE = 7
DEFAULT_CHUNK_SIZE = 64 * 1024
MAX_CHUNK_SIZE = 16 * 1024 * 1024
STREAM_HEADER = struct.Struct(">4sBI7s")
"""The stream header's layout: magic, version, chunk size (uint32 big-endian), nonce prefix."""
HEADER_SIZE = STREAM_HEADER.size
MAX_CHUNKS = 2**32
"""How many chunks a stream can hold: the chunk index is a uint32 in each nonce."""


class KeyringError(Exception):
    """The master keys are unusable (malformed, or an operation would lose data)."""


class MissingMasterKey(KeyringError):
    """No master key, or not the one required, is available."""


class DecryptionError(Exception):
    """Ciphertext did not authenticate: wrong key, wrong context, or tampering."""


class UnknownKeyId(DecryptionError):
    """The data was sealed under a master key this keyring does not hold (retired or missing)."""


class TamperedStream(DecryptionError):
    """An evidence stream failed authentication or is malformed."""


class TruncatedStream(DecryptionError):
    """An evidence stream ended before its final chunk."""


@dataclass(frozen=True)
class WrappedKey:
    key_id: str
    blob: bytes


def new_file_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def new_key_id(today: datetime | None = None) -> str:
    day = (today or datetime.now(UTC)).strftime("%Y%m%d")
    return f"k{day}{secrets.token_hex(3)}"


def _b64decode(text: str) -> bytes:
    text = text.strip()
    if not _B64URL.match(text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii")


def _check_key_id(kid: str) -> str:
    if not KEY_ID_PATTERN.match(kid):
        raise KeyringError(f"Invalid master key id {kid!r}.")
    return kid


def _parse_key(kid: str, text: str, origin: str) -> bytes:
    try:
        key = _b64decode(text)
    except (binascii.Error, ValueError) as exc:
        raise KeyringError(f"Master key {kid!r} in {origin} is not base64url.") from exc
    if len(key) != KEY_SIZE:
        raise KeyringError(f"Master key {kid!r} in {origin} must be {KEY_SIZE} bytes.")
    return key


def _missing(detail: str) -> MissingMasterKey:
    return MissingMasterKey(
        f"{detail} Run `portal init` to create a master key in the instance directory, "
        f"or set {ENV_MASTER_KEYS} (and {ENV_ACTIVE_KEY_ID})."
    )


class Keyring:
    """Master keys by id, one of them active for new encryption."""

    def __init__(self, keys: Mapping[str, bytes], active_id: str) -> None:
        for kid, key in keys.items():
            _check_key_id(kid)
            if len(key) != KEY_SIZE:
                raise KeyringError(f"Master key {kid!r} must be {KEY_SIZE} bytes.")
        if active_id not in keys:
            raise _missing(f"The active master key {active_id!r} is not available.")
        # One attribute holds both, so a reload swaps them together for concurrent readers.
        self._state: tuple[dict[str, AESGCM], str] = (
            {kid: AESGCM(bytes(key)) for kid, key in keys.items()},
            active_id,
        )
        self._source: Path | None = None
        self._env: dict[str, str] = {}
        self._stamp: tuple[int, ...] | None = None
        self._reload_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Keyring(key_ids={self.key_ids!r}, active_id={self.active_id!r})"

    @property
    def active_id(self) -> str:
        return self._state[1]

    @property
    def _ciphers(self) -> dict[str, AESGCM]:
        return self._state[0]

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(sorted(self._ciphers))

    # Reloading from the instance directory (key rotation without a restart)

    def follow(self, instance_path: Path, env: Mapping[str, str] | None = None) -> Keyring:
        """Reload from ``<instance>/keys`` whenever ``ACTIVE`` or the key files change.

        ``portal keys rotate`` writes the new key file, then replaces ``ACTIVE``; every process
        holding this keyring sees the change at its next ``reload_if_changed`` (the app calls it
        once per request: two ``stat`` calls) or when it meets a key id it does not hold.
        """
        self._source = Path(instance_path) / KEYS_DIRNAME
        # Reloads honour PORTAL_ACTIVE_KEY_ID as the first load did.
        self._env = {ENV_ACTIVE_KEY_ID: (env or {}).get(ENV_ACTIVE_KEY_ID, "")}
        self._stamp = _keys_stamp(self._source)
        return self

    def reload_if_changed(self) -> bool:
        """Reload the key files if they changed since the last load; return whether it did.

        A key file caught half-written, or any other unreadable state, leaves the keys in use
        unchanged; the next call tries again.
        """
        source = self._source
        if source is None or _keys_stamp(source) == self._stamp:
            return False
        with self._reload_lock:
            stamp = _keys_stamp(source)
            if stamp == self._stamp:
                return False
            try:
                fresh = Keyring.load(source.parent, self._env)
            except KeyringError:
                return False
            self._state = fresh._state
            self._stamp = stamp
            return True

    @classmethod
    def load(cls, instance_path: Path, env: Mapping[str, str]) -> Keyring:
        """Load keys from the environment if given there, else from ``<instance>/keys``."""
        keys_dir = Path(instance_path) / KEYS_DIRNAME
        keys: dict[str, bytes] = {}
        listed: list[str] = []
        if env.get(ENV_MASTER_KEYS, "").strip():
            for item in env[ENV_MASTER_KEYS].split(","):
                if not item.strip():
                    continue
                kid, sep, text = item.strip().partition(":")
                if not sep:
                    raise KeyringError(f"{ENV_MASTER_KEYS} entries must look like kid:base64url.")
                keys[_check_key_id(kid)] = _parse_key(kid, text, ENV_MASTER_KEYS)
                listed.append(kid)
        elif keys_dir.is_dir():
            for path in sorted(keys_dir.glob(f"*{KEY_FILE_SUFFIX}")):
                kid = path.name[: -len(KEY_FILE_SUFFIX)]
                if KEY_ID_PATTERN.match(kid):
                    keys[kid] = _parse_key(kid, path.read_text("ascii"), str(path))
        if not keys:
            raise _missing("No master key found.")

        active_id = env.get(ENV_ACTIVE_KEY_ID, "").strip()
        if not active_id and listed:
            active_id = listed[-1]
        if not active_id:
            active_file = keys_dir / ACTIVE_FILENAME
            if not active_file.is_file():
                raise _missing(f"No active master key is named in {active_file}.")
            active_id = active_file.read_text("ascii").strip()
        if active_id not in keys:
            raise _missing(f"The active master key {active_id!r} is not available.")
        return cls(keys, active_id)

    def _cipher(self, kid: str) -> AESGCM:
        cipher = self._ciphers.get(kid)
        if cipher is None and self.reload_if_changed():
            # Sealed by another process under a key created after this one loaded its keys.
            cipher = self._ciphers.get(kid)
        if cipher is None:
            raise UnknownKeyId(f"Master key {kid!r} is not loaded (retired or missing).")
        return cipher

    def _active(self) -> tuple[str, AESGCM]:
        ciphers, active_id = self._state
        return active_id, ciphers[active_id]

    # Envelope encryption of per-file keys

    def wrap_key(self, file_key: bytes, aad: bytes) -> WrappedKey:
        nonce = os.urandom(NONCE_SIZE)
        active_id, cipher = self._active()
        sealed = cipher.encrypt(nonce, file_key, _WRAP_DOMAIN + aad)
        return WrappedKey(active_id, nonce + sealed)

    def unwrap_key(self, key_id: str, blob: bytes, aad: bytes) -> bytes:
        cipher = self._cipher(key_id)
        if len(blob) < NONCE_SIZE + TAG_SIZE:
            raise DecryptionError("Wrapped key is too short.")
        try:
            return cipher.decrypt(blob[:NONCE_SIZE], blob[NONCE_SIZE:], _WRAP_DOMAIN + aad)
        except InvalidTag as exc:
            raise DecryptionError("Wrapped key did not authenticate.") from exc

    def rewrap(self, key_id: str, blob: bytes, aad: bytes) -> WrappedKey:
        return self.wrap_key(self.unwrap_key(key_id, blob, aad), aad)

    # Field encryption for short database values

    def encrypt_field(self, plaintext: str, context: str) -> bytes:
        active_id, cipher = self._active()
        kid = active_id.encode("ascii")
        prefix = bytes((FIELD_VERSION, len(kid))) + kid
        nonce = os.urandom(NONCE_SIZE)
        sealed = cipher.encrypt(nonce, plaintext.encode("utf-8"), _field_aad(prefix, context))
        return prefix + nonce + sealed

    def decrypt_field(self, token: bytes, context: str) -> str:
        kid, prefix, rest = _parse_field_token(token)
        cipher = self._cipher(kid)
        try:
            plaintext = cipher.decrypt(
                rest[:NONCE_SIZE], rest[NONCE_SIZE:], _field_aad(prefix, context)
            )
        except InvalidTag as exc:
            raise DecryptionError("Encrypted field did not authenticate.") from exc
        return plaintext.decode("utf-8")

    def reencrypt_field(self, token: bytes, context: str) -> bytes:
        return self.encrypt_field(self.decrypt_field(token, context), context)

    @staticmethod
    def field_key_id(token: bytes) -> str:
        """The master key id a field token was sealed under (for rotation progress)."""
        return _parse_field_token(token)[0]


def _field_aad(prefix: bytes, context: str) -> bytes:
    return prefix + _FIELD_DOMAIN + context.encode("utf-8")


def _parse_field_token(token: bytes) -> tuple[str, bytes, bytes]:
    token = bytes(token)
    if len(token) < 2 or token[0] != FIELD_VERSION:
        raise DecryptionError("Unknown encrypted field format.")
    end = 2 + token[1]
    if len(token) < end + NONCE_SIZE + TAG_SIZE:
        raise DecryptionError("Encrypted field is too short.")
    try:
        kid = token[2:end].decode("ascii")
    except UnicodeDecodeError as exc:
        raise DecryptionError("Encrypted field has a malformed key id.") from exc
    return kid, token[:end], token[end:]


# Master key files


def export_master_keys(instance_path: Path, env: Mapping[str, str]) -> tuple[dict[str, str], str]:
    """The master keys as stored (``kid -> base64url``) and the active id, for a backup."""
    ring = Keyring.load(instance_path, env)
    texts: dict[str, str] = {}
    if env.get(ENV_MASTER_KEYS, "").strip():
        for item in env[ENV_MASTER_KEYS].split(","):
            kid, _, text = item.strip().partition(":")
            if kid:
                texts[kid] = text.strip()
    else:
        for kid in ring.key_ids:
            path = Path(instance_path) / KEYS_DIRNAME / f"{kid}{KEY_FILE_SUFFIX}"
            texts[kid] = path.read_text("ascii").strip()
    return texts, ring.active_id


def import_master_keys(instance_path: Path, keys: Mapping[str, str], active_id: str) -> None:
    """Write key files (0600, never over an existing one) and name the active key."""
    keys_dir = _keys_dir(instance_path)
    for kid, text in keys.items():
        _parse_key(_check_key_id(kid), text, "the imported keys")
        write_new_private_file(keys_dir / f"{kid}{KEY_FILE_SUFFIX}", (text + "\n").encode("ascii"))
    fsync_dir(keys_dir)
    set_active_key(instance_path, active_id)


def _keys_stamp(keys_dir: Path) -> tuple[int, ...]:
    """What changes when a key file is added or removed, or ``ACTIVE`` is replaced."""
    stamp: list[int] = []
    for path in (keys_dir, keys_dir / ACTIVE_FILENAME):
        try:
            info = path.stat()
        except FileNotFoundError:
            stamp += [0, 0]
        else:
            stamp += [info.st_mtime_ns, info.st_ino]
    return tuple(stamp)


def _keys_dir(instance_path: Path) -> Path:
    keys_dir = Path(instance_path) / KEYS_DIRNAME
    keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(keys_dir, 0o700)
    return keys_dir


def write_new_private_file(path: Path, data: bytes) -> None:
    """Create ``path`` (0600, never through a symlink) holding ``data``, durably, or nothing."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def set_active_key(instance_path: Path, kid: str) -> None:
    """Point ``ACTIVE`` at an existing key file, replacing it atomically."""
    keys_dir = _keys_dir(instance_path)
    if not (keys_dir / f"{_check_key_id(kid)}{KEY_FILE_SUFFIX}").is_file():
        raise _missing(f"Master key {kid!r} has no key file in {keys_dir}.")
    tmp = keys_dir / f".{ACTIVE_FILENAME}.{secrets.token_hex(8)}.tmp"
    write_new_private_file(tmp, f"{kid}\n".encode("ascii"))
    try:
        os.replace(tmp, keys_dir / ACTIVE_FILENAME)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(keys_dir)


def create_master_key(instance_path: Path) -> str:
    """Write a new random master key file (0600) and make it the active key; return its id."""
    keys_dir = _keys_dir(instance_path)
    while True:
        kid = new_key_id()
        try:
            write_new_private_file(
                keys_dir / f"{kid}{KEY_FILE_SUFFIX}",
                (_b64encode(os.urandom(KEY_SIZE)) + "\n").encode("ascii"),
            )
        except FileExistsError:
            continue
        break
    fsync_dir(keys_dir)
    set_active_key(instance_path, kid)
    return kid


def retire_master_key(instance_path: Path, kid: str) -> bool:
    """Delete a non-active key file; return whether a file was removed.

    Callers must first re-wrap everything sealed under ``kid``: once retired, it is gone.
    """
    keys_dir = Path(instance_path) / KEYS_DIRNAME
    path = keys_dir / f"{_check_key_id(kid)}{KEY_FILE_SUFFIX}"
    active_file = keys_dir / ACTIVE_FILENAME
    if active_file.is_file() and active_file.read_text("ascii").strip() == kid:
        raise KeyringError(f"Master key {kid!r} is active and cannot be retired.")
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    fsync_dir(keys_dir)
    return True


# Streaming AEAD for evidence files
