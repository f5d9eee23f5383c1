"""Shared arrangements for the evidence tests: sample files and store inspection."""

from __future__ import annotations

import io
import os
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import Evidence, PendingUpload, Report
from portal.storage.blobs import INCOMING_DIRNAME, FileBlobStore

KiB = 1024
MiB = 1024 * 1024


def english_client(app: Flask) -> FlaskClient:
    """Messages are asserted in English, the source language."""
    client = app.test_client()
    client.set_cookie("lang", "en")
    return client


def jpeg(size: int = 2000, filler: bytes | None = None) -> bytes:
    head = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    body = filler if filler is not None else os.urandom(max(size - len(head) - 2, 0))
    return head + body + b"\xff\xd9"


def png(size: int = 2000) -> bytes:
    return b"\x89PNG\r\n\x1a\n" + os.urandom(size - 8)


def pdf(extra: bytes = b"") -> bytes:
    return (
        b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
        + extra
        + b"\n2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n"
        + b"trailer << /Root 1 0 R >>\n%%EOF\n"
    )


def files(*items: tuple[bytes, str]) -> list[tuple[io.BytesIO, str]]:
    return [(io.BytesIO(content), name) for content, name in items]


def store_of(app: Flask) -> FileBlobStore:
    store = app.extensions["blob_store"]
    assert isinstance(store, FileBlobStore)
    return store


def stored_blobs(app: Flask) -> list[str]:
    return list(store_of(app).keys())


def partial_uploads(app: Flask) -> list[Path]:
    return list((store_of(app).root / INCOMING_DIRNAME).iterdir())


def assert_nothing_kept(app: Flask, db: Session) -> None:
    assert stored_blobs(app) == []
    assert partial_uploads(app) == []
    assert db.scalars(select(Evidence)).all() == []


def assert_only_held(app: Flask, db: Session, count: int) -> list[PendingUpload]:
    """The accepted files wait, encrypted, for the form to come back; nothing else is kept."""
    held = list(db.scalars(select(PendingUpload)))
    assert len(held) == count
    assert sorted(stored_blobs(app)) == sorted(row.blob_key for row in held)
    assert partial_uploads(app) == []
    assert db.scalars(select(Evidence)).all() == []
    return held


def report_by_reference(db: Session, reference: str) -> Report:
    return db.scalars(select(Report).where(Report.reference == reference)).one()
