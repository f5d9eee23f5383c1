"""Accessors for the per-app services built in the factory (keyring, store, hasher, routing)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import current_app

if TYPE_CHECKING:
    from portal.crypto.keyring import Keyring
    from portal.domain.receipts import ReceiptHasher
    from portal.storage.blobs import BlobStore


def keyring() -> Keyring:
    return current_app.extensions["keyring"]


def receipt_hasher() -> ReceiptHasher:
    return current_app.extensions["receipt_hasher"]


def blob_store() -> BlobStore:
    return current_app.extensions["blob_store"]
