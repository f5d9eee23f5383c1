"""Perceptual hashes of evidence images (PDQ), and a near-duplicate index over them.

PDQ (Meta's open perceptual hash, ``pdqhash``) turns an image into 256 bits that barely change
when the image is resized, re-encoded or lightly cropped; two hashes within ``MATCH_DISTANCE``
bits (Hamming distance) are the same picture. 31 is the confident-match threshold Meta's
ThreatExchange tools use (``PDQ_CONFIDENT_MATCH_THRESHOLD``), with a quality floor of 50: two
unrelated images differ in 128 bits on average (a binomial with a standard deviation of 8), so
31 is twelve standard deviations from chance, while everyday re-encodings move a hash by a few
bits. Hashes whose PDQ ``quality`` is under ``MIN_QUALITY`` come from flat or featureless images
that match far too easily: they are kept but never matched. PDQ is robust to resizing and
re-encoding (measured here: 0 to 8 bits for half size, JPEG quality 30 to 95, WebP) but not to
cropping: about 1% off each side stays under 31 bits, 2% off one side does not (test_pdq.py).

The hash is taken at intake from the decoded image, in memory, before encryption: the intake
keeps the plaintext of an image (at most ``MAX_IMAGE_BYTES``) while it streams, decodes it with
Pillow (a header announcing more than ``MAX_PIXELS`` is refused as a decompression bomb before
any pixel is decoded), reduces it to at most ``WORK_SIDE`` pixels a side (JPEG decodes straight
to a smaller scale), and hashes that. Nothing touches the disk.

``PdqIndex`` keeps every stored hash of the instance in memory as four numpy arrays of uint64
(one per 64-bit word of the hashes) and scans them with XOR and popcount: exact, and about ten
milliseconds for a million hashes on one core (``bench/campaigns.py``). Each worker process
keeps its own index and reads the hashes stored since its last look before every match, so all
workers see every image; the first look decrypts every stored hash once.
"""

from __future__ import annotations

import io
import threading
import warnings

import numpy as np
import pdqhash
from PIL import Image, UnidentifiedImageError
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.crypto.keyring import Keyring
from portal.models import ImageHash, Report

HASHABLE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
MAX_IMAGE_BYTES = 32 * 1024 * 1024
MAX_PIXELS = 64_000_000
WORK_SIDE = 512
MATCH_DISTANCE = 31
MIN_QUALITY = 50
HASH_BYTES = 32


def hash_context(reference: str, evidence_id: int) -> str:
    return f"image.pdq:{reference}:{evidence_id}"


def compute(data: bytes) -> tuple[bytes, int] | None:
    """(32-byte PDQ hash, quality) of an encoded image; None if it cannot be safely decoded."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > MAX_PIXELS or width < 1 or height < 1:
                return None
            image.draft("RGB", (WORK_SIDE, WORK_SIDE))
            image = image.convert("RGB")
            image.thumbnail((WORK_SIDE, WORK_SIDE), Image.Resampling.BILINEAR)
            pixels = np.asarray(image, dtype=np.uint8)
    except (
        UnidentifiedImageError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
        OSError,
        ValueError,
        SyntaxError,
    ):
        return None
    bits, quality = pdqhash.compute(pixels)
    return np.packbits(bits.astype(np.uint8)).tobytes(), int(quality)


def distance(a: bytes, b: bytes) -> int:
    return int.from_bytes(bytes(x ^ y for x, y in zip(a, b, strict=True)), "big").bit_count()


class PdqIndex:
    """All stored hashes in memory, refreshed from the database by evidence id, scanned whole."""

    def __init__(self, max_distance: int = MATCH_DISTANCE) -> None:
        self.max_distance = max_distance
        # Column-major: word i of every hash is one contiguous array, so that a scan streams
        # through memory once per word (6x faster than XOR-ing an n x 4 matrix at 1M rows).
        self._words = np.zeros((4, 0), dtype=np.uint64)
        self._ids = np.zeros(0, dtype=np.int64)
        self._count = 0
        self._last_id = 0
        self._lock = threading.Lock()
        # One refresh at a time: two threads reading the same new rows would add them twice.
        self._refreshing = threading.Lock()

    def __len__(self) -> int:
        return self._count

    def add(self, evidence_ids: np.ndarray, packed: np.ndarray) -> None:
        """Append hashes (``packed``: n x 32 bytes) under ``evidence_ids``."""
        rows = np.ascontiguousarray(packed, dtype=np.uint8).view(">u8").astype(np.uint64)
        rows = rows.reshape(-1, 4)
        with self._lock:
            needed = self._count + len(rows)
            if needed > self._words.shape[1]:
                capacity = max(needed, 2 * self._words.shape[1], 1024)
                words = np.zeros((4, capacity), dtype=np.uint64)
                ids = np.zeros(capacity, dtype=np.int64)
                words[:, : self._count] = self._words[:, : self._count]
                ids[: self._count] = self._ids[: self._count]
                self._words, self._ids = words, ids
            self._words[:, self._count : needed] = rows.T
            self._ids[self._count : needed] = evidence_ids
            self._count = needed
            if len(evidence_ids):
                self._last_id = max(self._last_id, int(np.max(evidence_ids)))

    def refresh(self, session: Session, keyring: Keyring, batch: int = 5000) -> None:
        """Load the hashes stored since the last refresh (decrypting each)."""
        with self._refreshing:
            self._refresh(session, keyring, batch)

    def _refresh(self, session: Session, keyring: Keyring, batch: int) -> None:
        while True:
            rows = session.execute(
                select(ImageHash.evidence_id, ImageHash.pdq_enc, Report.reference)
                .join(Report, Report.id == ImageHash.report_id)
                .where(ImageHash.evidence_id > self._last_id, ImageHash.quality >= MIN_QUALITY)
                .order_by(ImageHash.evidence_id)
                .limit(batch)
            ).all()
            if not rows:
                return
            ids = np.array([row.evidence_id for row in rows], dtype=np.int64)
            packed = np.frombuffer(
                b"".join(
                    bytes.fromhex(
                        keyring.decrypt_field(
                            row.pdq_enc, hash_context(row.reference, row.evidence_id)
                        )
                    )
                    for row in rows
                ),
                dtype=np.uint8,
            ).reshape(-1, HASH_BYTES)
            self.add(ids, packed)

    def distances(self, packed: bytes) -> np.ndarray:
        query = np.frombuffer(packed, dtype=">u8").astype(np.uint64)
        with self._lock:
            words, count = self._words, self._count
        total = np.bitwise_count(words[0, :count] ^ query[0]).astype(np.uint16)
        for i in (1, 2, 3):
            total += np.bitwise_count(words[i, :count] ^ query[i])
        return total

    def match(self, packed: bytes, *, exclude: set[int] | None = None) -> list[int]:
        """Evidence ids of hashes within ``max_distance`` bits of ``packed``."""
        found = np.nonzero(self.distances(packed) <= self.max_distance)[0]
        ids = self._ids[found].tolist()
        return [int(i) for i in ids if not exclude or int(i) not in exclude]
