"""PDQ near-duplicates: the same picture survives resizing, JPEG and a slight crop; another
picture does not match; hostile images are refused before they are decoded."""

from __future__ import annotations

import io
import random

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from portal.evidence.pdq import MATCH_DISTANCE, MAX_PIXELS, MIN_QUALITY, PdqIndex, compute, distance


def photo(seed: int, size: tuple[int, int] = (800, 600)) -> Image.Image:
    """A busy, photo-like picture: gradients, shapes and noise, different for each seed."""
    rng = random.Random(seed)
    image = Image.linear_gradient("L").resize(size).convert("RGB")
    draw = ImageDraw.Draw(image)
    for _ in range(40):
        x, y = rng.randrange(size[0]), rng.randrange(size[1])
        w, h = rng.randrange(20, 260), rng.randrange(20, 200)
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        if rng.random() < 0.5:
            draw.ellipse((x, y, x + w, y + h), fill=colour)
        else:
            draw.rectangle((x, y, x + w, y + h), fill=colour)
    noise = np.random.default_rng(seed).integers(0, 30, (size[1], size[0], 3), dtype=np.uint8)
    return Image.fromarray(np.clip(np.asarray(image) + noise, 0, 255).astype(np.uint8)).filter(
        ImageFilter.GaussianBlur(1)
    )


def encode(image: Image.Image, fmt: str = "PNG", **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def hash_of(data: bytes) -> bytes:
    result = compute(data)
    assert result is not None
    bits, quality = result
    assert quality >= MIN_QUALITY
    return bits


def variants(image: Image.Image) -> dict[str, bytes]:
    w, h = image.size
    return {
        "half size": encode(image.resize((w // 2, h // 2))),
        "double size": encode(image.resize((w * 2, h * 2))),
        **{f"jpeg q{q}": encode(image, "JPEG", quality=q) for q in (95, 75, 50, 30)},
        "resized jpeg q60": encode(image.resize((w * 3 // 5, h * 3 // 5)), "JPEG", quality=60),
        # PDQ is sensitive to cropping: about 1% off each side stays within the threshold.
        "cropped 0.5% each side": encode(
            image.crop((w // 200, h // 200, w - w // 200, h - h // 200))
        ),
        "cropped 1% each side, jpeg": encode(
            image.crop((w // 100, h // 100, w - w // 100, h - h // 100)), "JPEG", quality=80
        ),
        "webp": encode(image, "WEBP", quality=70),
    }


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_same_picture_matches_after_everyday_changes(seed):
    image = photo(seed)
    original = hash_of(encode(image))
    for name, data in variants(image).items():
        assert distance(original, hash_of(data)) <= MATCH_DISTANCE, name


def test_different_pictures_do_not_match():
    hashes = [hash_of(encode(photo(seed))) for seed in range(1, 9)]
    for i, first in enumerate(hashes):
        for second in hashes[i + 1 :]:
            assert distance(first, second) > MATCH_DISTANCE


def test_index_finds_the_variants_and_nothing_else():
    index = PdqIndex()
    images = {seed: photo(seed) for seed in (11, 12, 13)}
    packed = np.frombuffer(
        b"".join(hash_of(encode(image)) for image in images.values()), dtype=np.uint8
    ).reshape(-1, 32)
    index.add(np.array(list(images), dtype=np.int64), packed)
    # Many random hashes around them, as a national index would hold.
    noise = np.random.default_rng(0).integers(0, 256, (5000, 32), dtype=np.uint8)
    index.add(np.arange(1000, 6000, dtype=np.int64), noise)
    for seed, image in images.items():
        for name, data in variants(image).items():
            assert index.match(hash_of(data)) == [seed], name
    assert index.match(hash_of(encode(photo(99)))) == []


def test_decompression_bombs_and_garbage_are_refused_before_decoding():
    side = int(MAX_PIXELS**0.5) + 100
    # A PNG header announcing a huge canvas: refused from its size alone.
    bomb = encode(Image.new("1", (side, side)))
    assert compute(bomb) is None
    assert compute(b"\x89PNG\r\n\x1a\n" + b"\x00" * 100) is None
    assert compute(b"not an image") is None


def test_flat_images_have_low_quality():
    result = compute(encode(Image.new("RGB", (400, 300), (128, 128, 128))))
    assert result is not None and result[1] < MIN_QUALITY
