"""The backup's keys file: the master keys and instance secrets, sealed under a passphrase.

Format ``eblagh-keys/2`` is a JSON object sealed by ``portal.crypto.passphrase_seal``. Its
header, readable without the passphrase and authenticated with it, holds ``format``,
``backup_id``, ``created_at``, ``active_key_id`` and ``fingerprints`` (of every master key and
secret: the same SHA-256 prefixes the archive's manifest already records), so a restore can
refuse a keys file that does not match the archive before asking for the passphrase. The sealed
plaintext is ``{"secrets", "master_keys", "active_key_id"}`` as JSON.

Format ``eblagh-keys/1`` (written before the keys file was encrypted) held the same plaintext
fields in clear; it is still read, and ``KeysFile.encrypted`` says it is not.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from portal.crypto import passphrase_seal
from portal.crypto.passphrase_seal import KdfParams

KEYS_FORMAT = "eblagh-keys/2"
PLAIN_KEYS_FORMAT = "eblagh-keys/1"
# A keys file is a few kilobytes: anything much larger is the wrong file (the archive?).
_MAX_SIZE = 1024 * 1024

Fingerprints = Mapping[str, Mapping[str, str]]


class KeysFileError(Exception):
    """The keys file cannot be written or read; the message says why, without any secret."""


class KeysFileUnreadable(KeysFileError):
    """Absent, not a keys file, or damaged."""


class WrongPassphrase(KeysFileError):
    """The passphrase does not open the keys file, or the file was altered."""


class WeakPassphrase(KeysFileError):
    """A passphrase for a new keys file breaks the rule."""


@dataclass(frozen=True)
class KeyMaterial:
    """Secrets and master keys as stored (base64 text), and the active master key id."""

    secrets: Mapping[str, str]
    master_keys: Mapping[str, str]
    active_id: str

    def fingerprints(self) -> dict[str, dict[str, str]]:
        return {
            "secrets": {name: _fingerprint(value) for name, value in self.secrets.items()},
            "master_keys": {kid: _fingerprint(value) for kid, value in self.master_keys.items()},
        }

    def _plain_fields(self) -> dict[str, Any]:
        return {
            "secrets": dict(self.secrets),
            "master_keys": dict(self.master_keys),
            "active_key_id": self.active_id,
        }

    @classmethod
    def _from_fields(cls, fields: Any, source: str) -> KeyMaterial:
        try:
            return cls(
                secrets={str(k): str(v) for k, v in fields["secrets"].items()},
                master_keys={str(k): str(v) for k, v in fields["master_keys"].items()},
                active_id=str(fields["active_key_id"]),
            )
        except (KeyError, AttributeError, TypeError) as exc:
            raise KeysFileUnreadable(f"The keys file {source} is incomplete: {exc}.") from exc


def _fingerprint(value: str) -> str:
    # A prefix of a hash of a 256-bit random value: tells keys apart, reveals nothing of them.
    return hashlib.sha256(value.strip().encode()).hexdigest()[:16]


def check_new_passphrase(passphrase: str) -> None:
    """Refuse a passphrase too weak to seal a new keys file (the rule is in the message)."""
    try:
        passphrase_seal.check_new_passphrase(passphrase)
    except passphrase_seal.WeakPassphrase as exc:
        raise WeakPassphrase(str(exc)) from exc


def seal_keys(
    keys: KeyMaterial,
    passphrase: str,
    *,
    backup_id: str,
    created_at: str,
    kdf: KdfParams = passphrase_seal.DEFAULT_KDF,
) -> bytes:
    """The bytes of a new keys file holding ``keys`` under ``passphrase``."""
    check_new_passphrase(passphrase)
    header = {
        "format": KEYS_FORMAT,
        "backup_id": backup_id,
        "created_at": created_at,
        "active_key_id": keys.active_id,
        "fingerprints": keys.fingerprints(),
    }
    plaintext = json.dumps(keys._plain_fields(), sort_keys=True).encode()
    document = passphrase_seal.seal(plaintext, passphrase, header, kdf)
    return json.dumps(document, indent=2, sort_keys=True).encode() + b"\n"


@dataclass(frozen=True)
class KeysFile:
    """A keys file as read from disk: what it claims to hold, and how to open it."""

    path: Path
    encrypted: bool
    fingerprints: Fingerprints
    active_id: str
    _document: Mapping[str, Any]

    def open(self, passphrase: str | None) -> KeyMaterial:
        """The keys; ``passphrase`` is needed for an encrypted file, ignored for a plain one."""
        if not self.encrypted:
            return KeyMaterial._from_fields(self._document, str(self.path))
        if passphrase is None:
            raise WrongPassphrase(f"The keys file {self.path} is encrypted: it needs a passphrase.")
        try:
            plaintext = passphrase_seal.unseal(self._document, passphrase)
        except passphrase_seal.WrongPassphraseOrAltered as exc:
            raise WrongPassphrase(
                f"The keys file {self.path} does not open: the passphrase is wrong, or the file "
                "was altered since `portal backup` wrote it."
            ) from exc
        except passphrase_seal.MalformedSeal as exc:
            raise KeysFileUnreadable(
                f"The keys file {self.path} was altered or damaged ({exc}): it does not open."
            ) from exc
        try:
            fields = json.loads(plaintext)
        except ValueError as exc:
            raise KeysFileUnreadable(f"The keys file {self.path} is damaged.") from exc
        keys = KeyMaterial._from_fields(fields, str(self.path))
        if keys.fingerprints() != self.fingerprints or keys.active_id != self.active_id:
            # The header is authenticated with the keys: this is a writer's bug, not an attack.
            raise KeysFileUnreadable(f"The keys file {self.path} contradicts its own header.")
        return keys


def read_keys_file(path: Path) -> KeysFile:
    """Read a keys file's header (format 2) or plain contents (format 1); no passphrase yet."""
    not_ours = f"{path} is not a keys file written by `portal backup`."
    try:
        with path.open("rb") as handle:
            raw = handle.read(_MAX_SIZE + 1)
    except FileNotFoundError as exc:
        raise KeysFileUnreadable(f"The keys file {path} does not exist.") from exc
    except IsADirectoryError as exc:
        raise KeysFileUnreadable(not_ours) from exc
    if len(raw) > _MAX_SIZE:
        raise KeysFileUnreadable(not_ours)
    try:
        document = json.loads(raw)
    except ValueError as exc:
        raise KeysFileUnreadable(not_ours) from exc
    if not isinstance(document, dict):
        raise KeysFileUnreadable(not_ours)
    if document.get("format") == PLAIN_KEYS_FORMAT:
        keys = KeyMaterial._from_fields(document, str(path))
        return KeysFile(path, False, keys.fingerprints(), keys.active_id, document)
    if document.get("format") != KEYS_FORMAT:
        raise KeysFileUnreadable(not_ours)
    fingerprints, active_id = document.get("fingerprints"), document.get("active_key_id")
    if not (_is_fingerprints(fingerprints) and isinstance(active_id, str)):
        raise KeysFileUnreadable(f"The keys file {path} is damaged: its header is incomplete.")
    return KeysFile(path, True, fingerprints, active_id, document)


def _is_fingerprints(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and set(value) == {"secrets", "master_keys"}
        and all(
            isinstance(group, dict)
            and all(isinstance(k, str) and isinstance(v, str) for k, v in group.items())
            for group in value.values()
        )
    )
