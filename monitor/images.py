"""Decode and check a returned image: its type and dimensions, within pixel limits."""

from __future__ import annotations

import io
import warnings

from PIL import Image

from monitor.interfaces import ImageInfo, Outcome, ProbeFailure

_MIME = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "GIF": "image/gif"}


def check_image(
    data: bytes,
    *,
    width: int,
    height: int,
    allowed_mime: tuple[str, ...],
    max_pixels: int,
) -> ImageInfo:
    """Return what the image is, or raise ``invalid_output`` saying what is wrong.

    The header is read first and the pixel count checked before any decoding, so a
    decompression bomb never reaches the decoder.
    """
    if not data:
        raise ProbeFailure(Outcome.INVALID_OUTPUT, "image is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                fmt = image.format or ""
                got_w, got_h = image.size
                if got_w * got_h > max_pixels:
                    raise ProbeFailure(
                        Outcome.INVALID_OUTPUT,
                        f"image of {got_w}x{got_h} exceeds the {max_pixels} pixel limit",
                    )
                image.load()
    except ProbeFailure:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError, Warning) as exc:
        raise ProbeFailure(
            Outcome.INVALID_OUTPUT, f"image is not decodable: {type(exc).__name__}"
        ) from None
    mime = _MIME.get(fmt, f"image/{fmt.lower()}")
    if mime not in allowed_mime:
        raise ProbeFailure(Outcome.INVALID_OUTPUT, f"image type {mime} was not expected")
    if (got_w, got_h) != (width, height):
        raise ProbeFailure(
            Outcome.INVALID_OUTPUT, f"image is {got_w}x{got_h}, expected {width}x{height}"
        )
    return ImageInfo(mime=mime, width=got_w, height=got_h, size_bytes=len(data))
