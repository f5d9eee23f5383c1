"""Demo screenshots: small generated PNGs, encrypted and attached like a reporter's upload.

They let an officer try the evidence preview on demo cases. The pictures are abstract (a
chat-like layout of coloured bars), never real content.
"""

from __future__ import annotations

import random
import struct
import zlib
from datetime import datetime

from sqlalchemy.orm import Session

from portal.crypto.keyring import Keyring
from portal.evidence.intake import Intake, Limits
from portal.models import Evidence, Report
from portal.services.evidence import attach
from portal.storage.blobs import BlobStore

_LIMITS = Limits(max_files=5, max_file_size=1 << 20, max_request_size=5 << 20, drain_limit=10 << 20)
_PALETTE = ((37, 99, 235), (22, 163, 74), (234, 88, 12), (147, 51, 234), (220, 38, 38))


def screenshot_png(seed: int, width: int = 180, height: int = 320) -> bytes:
    """A phone-screenshot-shaped PNG: a header and alternating message bubbles."""
    rng = random.Random(seed)  # noqa: S311 - a picture, not a secret
    accent = _PALETTE[seed % len(_PALETTE)]
    background = (245, 245, 245)
    rows = [bytearray(background * width) for _ in range(height)]

    def fill(x0: int, y0: int, x1: int, y1: int, colour: tuple[int, int, int]) -> None:
        for y in range(max(y0, 0), min(y1, height)):
            rows[y][x0 * 3 : x1 * 3] = bytes(colour) * (x1 - x0)

    fill(0, 0, width, 28, accent)
    y = 40
    while y < height - 30:
        bubble = rng.randint(50, width - 40)
        tall = rng.randint(16, 40)
        if rng.random() < 0.5:
            fill(8, y, 8 + bubble, y + tall, (255, 255, 255))
        else:
            fill(
                width - 8 - bubble, y, width - 8, y + tall, tuple(min(c + 80, 255) for c in accent)
            )
        y += tall + 10
    raw = b"".join(b"\x00" + bytes(row) for row in rows)

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 6))
        + chunk(b"IEND", b"")
    )


def attach_screenshots(
    session: Session,
    report: Report,
    *,
    count: int,
    seed: int,
    store: BlobStore,
    keyring: Keyring,
    now: datetime,
) -> list[Evidence]:
    """Encrypt ``count`` demo screenshots into the store and attach them to ``report``."""
    intake = Intake(
        _LIMITS, store=store, keyring=keyring, reference_for_request=lambda: report.reference
    )
    staged = []
    for index in range(count):
        part = intake.open("evidence", f"capture-{index + 1}.png")
        part.write(screenshot_png(seed * 10 + index))
        part.finish()
        if part.problem is not None:  # pragma: no cover - a generated PNG is always accepted
            raise RuntimeError(f"demo screenshot refused: {part.problem}")
        staged.append(part)
    return attach(session, report, staged, source="report", keyring=keyring, now=now)
