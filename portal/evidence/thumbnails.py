"""Safe preview thumbnails of evidence images, for officers' eyes (no Flask, no database).

An officer looking at a case should see what an image is about without having it thrown at
them full size: the preview is small (at most ``MAX_SIDE`` pixels a side), blurred unless the
officer asks otherwise, and it is a new picture drawn from the decoded pixels -- re-encoded
as PNG, with no EXIF, ICC profile, comment or any other metadata of the original, and never
the original bytes.

Decoding untrusted images: the format must be one of ``PREVIEW_TYPES`` (sniffed at intake and
checked again by Pillow here); the header's dimensions are checked against ``MAX_PIXELS``
before a single pixel is decoded (a decompression bomb is refused, not attempted); JPEG
decodes straight to a reduced scale (``draft``); animated images give their first frame.
"""

from __future__ import annotations

import io
import warnings

from PIL import Image, ImageFilter, ImageOps, UnidentifiedImageError

PREVIEW_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
PIL_FORMATS = {"JPEG", "PNG", "GIF", "WEBP"}
MAX_SIDE = 320
MAX_PIXELS = 64_000_000
MAX_INPUT_BYTES = 32 * 1024 * 1024
# Strong enough that faces and text are not readable at 320 px, weak enough to see the kind
# of picture (a screenshot of a chat, a photo of a person, a document).
BLUR_RADIUS = 12


class NotPreviewable(Exception):
    """The bytes are not an image this module previews safely (wrong type, bomb, broken)."""


def previewable(media_type: str, size: int) -> bool:
    """Whether evidence of this sniffed type and size gets a preview at all."""
    return media_type in PREVIEW_TYPES and 0 < size <= MAX_INPUT_BYTES


def thumbnail(data: bytes, *, blurred: bool = True, max_side: int = MAX_SIDE) -> bytes:
    """A PNG at most ``max_side`` pixels a side, without metadata; blurred unless asked not to.

    Raises NotPreviewable for anything but a sane JPEG, PNG, GIF or WebP image.
    """
    if len(data) > MAX_INPUT_BYTES:
        raise NotPreviewable("too large to preview")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=sorted(PIL_FORMATS))
            width, height = image.size
            if width < 1 or height < 1 or width * height > MAX_PIXELS:
                raise NotPreviewable("image dimensions refused")
            image.draft("RGB", (max_side, max_side))
            image.seek(0)
            # The orientation tag is honoured before it is dropped with the rest of the EXIF.
            image = ImageOps.exif_transpose(image) or image
            image = image.convert("RGB")
            image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    except NotPreviewable:
        raise
    except (
        UnidentifiedImageError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
        OSError,
        ValueError,
        SyntaxError,
        EOFError,
    ) as exc:
        raise NotPreviewable(f"{type(exc).__name__}") from exc
    if blurred:
        radius = max(2, round(BLUR_RADIUS * max(image.size) / MAX_SIDE))
        image = image.filter(ImageFilter.GaussianBlur(radius))
    # A fresh image holds only pixels: nothing of the original's info, EXIF or profile.
    clean = Image.new("RGB", image.size)
    clean.paste(image)
    out = io.BytesIO()
    clean.save(out, format="PNG", optimize=True)
    return out.getvalue()
