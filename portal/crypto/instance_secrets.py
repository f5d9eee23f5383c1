"""Per-deployment secrets: generated once by ``portal init`` (0600 files) or given by environment.

The app refuses to start without them rather than inventing weak ones at run time: a secret that
silently changes on restart would log every officer out and make every receipt unreadable.
"""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from portal.crypto.keyring import write_new_private_file

SECRETS_DIRNAME = "secrets"
# file name -> environment variable that may carry the same secret instead
SECRET_NAMES: dict[str, str] = {
    "secret_key": "PORTAL_SECRET_KEY",
    "receipt_pepper": "PORTAL_RECEIPT_PEPPER",
    # Keys the blind indexes of offender traces (URLs, phones, handles, accounts).
    "index_pepper": "PORTAL_INDEX_PEPPER",
    # Keys the MAC of every audit entry: kept out of the database that holds the chain.
    "audit_key": "PORTAL_AUDIT_KEY",
    # Seeds the Ed25519 key that signs case files exported for the prosecutor.
    "casefile_key": "PORTAL_CASEFILE_KEY",
}


class MissingSecret(RuntimeError):
    """A required secret is neither in the instance directory nor in the environment."""


@dataclass(frozen=True)
class InstanceSecrets:
    secret_key: bytes
    receipt_pepper: bytes
    index_pepper: bytes
    audit_key: bytes
    casefile_key: bytes


def _secret_dir(instance_path: Path) -> Path:
    return instance_path / SECRETS_DIRNAME


def ensure_secrets(instance_path: Path) -> list[str]:
    """Create any missing secret file; return the names created (idempotent)."""
    directory = _secret_dir(instance_path)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    created = []
    for name in SECRET_NAMES:
        path = directory / name
        if not path.exists():
            write_new_private_file(path, base64.urlsafe_b64encode(secrets.token_bytes(32)))
            created.append(name)
    return created


def load_secrets(instance_path: Path, env: Mapping[str, str] | None = None) -> InstanceSecrets:
    env = os.environ if env is None else env
    values: dict[str, bytes] = {}
    for name, variable in SECRET_NAMES.items():
        if env.get(variable):
            values[name] = env[variable].encode()
            continue
        path = _secret_dir(instance_path) / name
        if not path.exists():
            raise MissingSecret(
                f"Secret '{name}' is missing: run `portal init` (creates {path}) or set {variable}."
            )
        values[name] = path.read_bytes().strip()
    return InstanceSecrets(
        secret_key=values["secret_key"],
        receipt_pepper=_decode_key(values["receipt_pepper"]),
        index_pepper=_decode_key(values["index_pepper"]),
        audit_key=_decode_key(values["audit_key"]),
        casefile_key=_decode_key(values["casefile_key"]),
    )


def _decode_key(text: bytes) -> bytes:
    """Secrets are stored as URL-safe base64; a value given without its padding is accepted."""
    return base64.urlsafe_b64decode(text + b"=" * (-len(text) % 4))
