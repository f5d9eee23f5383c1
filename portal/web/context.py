"""Accessors for the per-app services the factory builds (keyring, store, hashers)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import current_app

if TYPE_CHECKING:
    from argon2 import PasswordHasher

    from portal.crypto.blind_index import BlindIndexer
    from portal.crypto.keyring import Keyring
    from portal.domain.receipts import ReceiptHasher
    from portal.storage.blobs import BlobStore


def keyring() -> Keyring:
    return current_app.extensions["keyring"]


def password_hasher() -> PasswordHasher:
    return current_app.extensions["password_hasher"]


def receipt_hasher() -> ReceiptHasher:
    return current_app.extensions["receipt_hasher"]


def blob_store() -> BlobStore:
    return current_app.extensions["blob_store"]


def blind_indexer() -> BlindIndexer:
    return current_app.extensions["blind_indexer"]
