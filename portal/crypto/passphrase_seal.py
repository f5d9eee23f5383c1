"""A small secret document sealed under an operator's passphrase (the backup keys file).

Specification
-------------
A sealed document is a JSON object. Every field except ``ciphertext`` is its header; the caller
adds its own fields (format, fingerprints...) and this module adds ``kdf`` and ``cipher``::

    kdf        = {"name": "argon2id", "salt": b64(16 random bytes),
                  "iterations": t, "lanes": p, "memory_kib": m}
    cipher     = {"name": "aes-256-gcm", "nonce": b64(12 random bytes)}
    key        = Argon2id(utf-8(NFC(passphrase)), salt, t, p, m)      (32 bytes)
    aad        = b"eb-passphrase-seal\\x00" || canonical JSON of the header
    ciphertext = b64(AES-256-GCM(key, nonce, plaintext, aad))

Canonical JSON: keys sorted, no spaces, ASCII only. Base64 is the standard alphabet, padded,
and must be canonical (re-encoding the decoded bytes gives back the same text), so every value
of the document is authenticated: a changed salt, parameter, fingerprint or ciphertext makes the
tag check fail. A wrong passphrase and an altered document fail the same way, on purpose.

Each document gets a fresh salt, hence a fresh key, so a random nonce never repeats under a key.
The KDF parameters are read from the header: later versions may raise the defaults and older
files still open. A reader caps them, so that a forged header cannot make it allocate gigabytes
or spin for minutes before the tag check refuses the document.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

KDF_NAME = "argon2id"
CIPHER_NAME = "aes-256-gcm"
SALT_SIZE = 16
NONCE_SIZE = 12
KEY_SIZE = 32
# A passphrase guards every master key: long enough to resist an offline search at the KDF's
# cost. Counted in characters after NFC normalisation; five random words easily pass.
MIN_PASSPHRASE_CHARS = 16
PASSPHRASE_RULE = f"at least {MIN_PASSPHRASE_CHARS} characters (five or more random words)"
_DOMAIN = b"eb-passphrase-seal\x00"
_HEADER_FIELDS = ("kdf", "cipher")


class SealError(Exception):
    """The document cannot be opened; the message says why, without any secret."""


class MalformedSeal(SealError):
    """The document is not a sealed document this module can read (or its header is damaged)."""


class WrongPassphraseOrAltered(SealError):
    """The tag check failed: a wrong passphrase, or a document changed since it was sealed."""


class WeakPassphrase(ValueError):
    """A new passphrase breaks ``PASSPHRASE_RULE``."""


@dataclass(frozen=True)
class KdfParams:
    """Argon2id cost: ``iterations`` passes over ``memory_kib`` KiB split into ``lanes``."""

    iterations: int
    lanes: int
    memory_kib: int


# RFC 9106's second recommended option (t=3, p=4) with four times its 64 MiB: sealing runs
# once per backup, and every doubling of memory doubles the cost of each guess offline.
DEFAULT_KDF = KdfParams(iterations=3, lanes=4, memory_kib=256 * 1024)
# What a reader accepts from a header: well above the defaults, below harm.
_MAX_ITERATIONS = 64
_MAX_LANES = 64
_MAX_MEMORY_KIB = 4 * 1024 * 1024


def check_new_passphrase(passphrase: str) -> None:
    """Refuse a passphrase for a new document that breaks ``PASSPHRASE_RULE``."""
    if len(_normalise(passphrase)) < MIN_PASSPHRASE_CHARS:
        raise WeakPassphrase(f"The passphrase is too short: it needs {PASSPHRASE_RULE}.")


def seal(
    plaintext: bytes,
    passphrase: str,
    header: Mapping[str, Any],
    kdf: KdfParams = DEFAULT_KDF,
) -> dict[str, Any]:
    """The sealed document: ``header`` plus ``kdf``, ``cipher`` and ``ciphertext``."""
    check_new_passphrase(passphrase)
    clash = set(header) & {*_HEADER_FIELDS, "ciphertext"}
    if clash:
        raise ValueError(f"header fields reserved for the seal: {sorted(clash)}")
    salt, nonce = os.urandom(SALT_SIZE), os.urandom(NONCE_SIZE)
    document: dict[str, Any] = {
        **header,
        "kdf": {
            "name": KDF_NAME,
            "salt": _b64(salt),
            "iterations": kdf.iterations,
            "lanes": kdf.lanes,
            "memory_kib": kdf.memory_kib,
        },
        "cipher": {"name": CIPHER_NAME, "nonce": _b64(nonce)},
    }
    key = _derive(passphrase, salt, kdf)
    document["ciphertext"] = _b64(AESGCM(key).encrypt(nonce, plaintext, _aad(document)))
    return document


def unseal(document: Mapping[str, Any], passphrase: str) -> bytes:
    """The plaintext, once the passphrase and every value of the document check out."""
    salt, kdf = _kdf_params(document.get("kdf"))
    nonce = _cipher_nonce(document.get("cipher"))
    ciphertext = _unb64(document.get("ciphertext"), "ciphertext")
    key = _derive(passphrase, salt, kdf)
    try:
        return AESGCM(key).decrypt(nonce, ciphertext, _aad(document))
    except InvalidTag as exc:
        raise WrongPassphraseOrAltered(
            "The passphrase is wrong, or the file was altered since it was written."
        ) from exc


def header_of(document: Mapping[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in document.items() if name != "ciphertext"}


def _aad(document: Mapping[str, Any]) -> bytes:
    canonical = json.dumps(
        header_of(document), sort_keys=True, separators=(",", ":"), ensure_ascii=True
    )
    return _DOMAIN + canonical.encode("ascii")


def _normalise(passphrase: str) -> str:
    # The same words typed on another system (or keyboard) may arrive decomposed.
    return unicodedata.normalize("NFC", passphrase)


def _derive(passphrase: str, salt: bytes, kdf: KdfParams) -> bytes:
    secret = _normalise(passphrase).encode("utf-8", "surrogateescape")
    return Argon2id(
        salt=salt,
        length=KEY_SIZE,
        iterations=kdf.iterations,
        lanes=kdf.lanes,
        memory_cost=kdf.memory_kib,
    ).derive(secret)


def _kdf_params(value: Any) -> tuple[bytes, KdfParams]:
    if not isinstance(value, dict) or value.get("name") != KDF_NAME:
        raise MalformedSeal(f"unknown key derivation (only {KDF_NAME} is read)")
    salt = _unb64(value.get("salt"), "salt")
    numbers = [value.get(name) for name in ("iterations", "lanes", "memory_kib")]
    if len(salt) < SALT_SIZE or not all(type(n) is int for n in numbers):
        raise MalformedSeal("damaged key derivation parameters")
    kdf = KdfParams(*numbers)
    if not (
        1 <= kdf.iterations <= _MAX_ITERATIONS
        and 1 <= kdf.lanes <= _MAX_LANES
        and 8 * kdf.lanes <= kdf.memory_kib <= _MAX_MEMORY_KIB
    ):
        raise MalformedSeal("key derivation parameters out of the accepted range")
    return salt, kdf


def _cipher_nonce(value: Any) -> bytes:
    if not isinstance(value, dict) or value.get("name") != CIPHER_NAME:
        raise MalformedSeal(f"unknown cipher (only {CIPHER_NAME} is read)")
    nonce = _unb64(value.get("nonce"), "nonce")
    if len(nonce) != NONCE_SIZE:
        raise MalformedSeal("damaged nonce")
    return nonce


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(value: Any, name: str) -> bytes:
    if not isinstance(value, str):
        raise MalformedSeal(f"missing {name}")
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedSeal(f"damaged {name}") from exc
    if _b64(data) != value:
        # Base64 has spare bits; accepting a second spelling would leave a byte unchecked.
        raise MalformedSeal(f"damaged {name}")
    return data
