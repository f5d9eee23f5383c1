"""Evidence previews: small, blurred by default, metadata-free, and safe on hostile input."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image, PngImagePlugin

from portal.evidence import thumbnails
from portal.evidence.thumbnails import MAX_SIDE, NotPreviewable, previewable, thumbnail


def _pattern(width: int, height: int) -> Image.Image:
    image = Image.new("RGB", (width, height), "white")
    pixels = image.load()
    for x in range(0, width, 3):
        for y in range(0, height, 3):
            pixels[x, y] = ((x * 11) % 256, (y * 7) % 256, ((x ^ y) * 5) % 256)
    return image


def _jpeg_with_exif(width: int = 1600, height: int = 900, orientation: int | None = None) -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "SecretCamMaker"  # Make
    exif[0x0131] = "LeakySoftware 1.0"  # Software
    if orientation:
        exif[0x0112] = orientation
    out = io.BytesIO()
    _pattern(width, height).save(out, format="JPEG", exif=exif, quality=92)
    return out.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data))
        + kind
        + data
        + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def _png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header announces ``width`` x ``height`` pixels (a decompression bomb)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def test_output_is_a_smaller_png_keeping_the_aspect_ratio():
    data = _jpeg_with_exif(1600, 900)
    out = Image.open(io.BytesIO(thumbnail(data)))
    assert out.format == "PNG"
    assert out.size == (MAX_SIDE, 180)
    tall = Image.open(io.BytesIO(thumbnail(_jpeg_with_exif(500, 1000), blurred=False)))
    assert tall.size == (160, MAX_SIDE)


def test_a_small_image_is_not_enlarged():
    out = io.BytesIO()
    _pattern(90, 60).save(out, format="PNG")
    assert Image.open(io.BytesIO(thumbnail(out.getvalue()))).size == (90, 60)


def test_exif_and_text_metadata_are_stripped():
    data = _jpeg_with_exif()
    assert b"SecretCamMaker" in data
    for blurred in (True, False):
        result = thumbnail(data, blurred=blurred)
        assert b"SecretCamMaker" not in result and b"LeakySoftware" not in result
        image = Image.open(io.BytesIO(result))
        assert not image.getexif()
        assert not {"exif", "icc_profile", "comment"} & set(image.info)

    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "Victim Full Name")
    source = io.BytesIO()
    _pattern(400, 300).save(source, format="PNG", pnginfo=info)
    result = thumbnail(source.getvalue())
    assert b"Victim Full Name" not in result
    assert "Author" not in Image.open(io.BytesIO(result)).info


def test_the_orientation_is_applied_before_the_exif_goes():
    # Orientation 6: the camera was turned; the picture is shown rotated a quarter turn.
    result = Image.open(io.BytesIO(thumbnail(_jpeg_with_exif(1600, 900, orientation=6))))
    assert result.size == (180, MAX_SIDE)


def test_blurred_and_clear_differ_and_the_blur_removes_detail():
    data = _jpeg_with_exif(640, 480)
    blurred = Image.open(io.BytesIO(thumbnail(data, blurred=True))).convert("L")
    clear = Image.open(io.BytesIO(thumbnail(data, blurred=False))).convert("L")
    assert blurred.size == clear.size
    assert blurred.tobytes() != clear.tobytes()

    def detail(image: Image.Image) -> int:
        values = list(image.tobytes())
        width = image.size[0]
        return sum(
            abs(values[i] - values[i + 1]) for i in range(len(values) - 1) if (i + 1) % width
        )

    assert detail(blurred) * 4 < detail(clear)


def test_the_original_bytes_never_come_back():
    data = _jpeg_with_exif(200, 100)
    result = thumbnail(data, blurred=False)
    assert result != data and data[:200] not in result


def test_a_decompression_bomb_is_refused_before_decoding():
    bomb = _png_claiming(100_000, 100_000)
    assert len(bomb) < 200
    with pytest.raises(NotPreviewable):
        thumbnail(bomb)
    # Just over this module's own ceiling, under Pillow's: refused by the header check.
    with pytest.raises(NotPreviewable):
        thumbnail(_png_claiming(8001, 8001))


@pytest.mark.parametrize(
    "data",
    [
        b"%PDF-1.7\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n",
        b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>",
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 100,  # a PNG signature and nothing sane behind it
        b"\xff\xd8\xff\xe0" + b"\x00" * 50,  # a truncated JPEG
        b"",
    ],
)
def test_non_images_and_broken_images_are_not_previewed(data):
    with pytest.raises(NotPreviewable):
        thumbnail(data)


def test_too_large_input_is_refused_without_decoding():
    with pytest.raises(NotPreviewable):
        thumbnail(b"\xff\xd8\xff" + b"\x00" * (thumbnails.MAX_INPUT_BYTES + 1))


def test_only_raster_image_types_get_a_preview():
    assert previewable("image/jpeg", 1000) and previewable("image/png", 1000)
    assert not previewable("application/pdf", 1000)
    assert not previewable("image/svg+xml", 1000)
    assert not previewable("video/mp4", 1000)
    assert not previewable("image/jpeg", thumbnails.MAX_INPUT_BYTES + 1)
