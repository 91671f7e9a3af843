"""Real image bytes of the asked size and type, and the ``/files/...`` store that serves them."""

from __future__ import annotations

import io
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache

from PIL import Image, ImageDraw

_FORMATS = {
    "png": ("PNG", "image/png"),
    "jpeg": ("JPEG", "image/jpeg"),
    "jpg": ("JPEG", "image/jpeg"),
    "webp": ("WEBP", "image/webp"),
}


def mime_of(fmt: str) -> str:
    return _FORMATS[fmt.lower()][1]


@lru_cache(maxsize=64)
def render(width: int, height: int, fmt: str = "png") -> bytes:
    """A small picture (a red square on white) encoded as ``fmt``; cached per size and type."""
    pil_format, _ = _FORMATS[fmt.lower()]
    image = Image.new("RGB", (width, height), (250, 250, 250))
    draw = ImageDraw.Draw(image)
    draw.rectangle((width // 4, height // 4, 3 * width // 4, 3 * height // 4), fill=(200, 30, 30))
    out = io.BytesIO()
    image.save(out, format=pil_format, quality=60) if pil_format != "PNG" else image.save(
        out, format="PNG", optimize=False, compress_level=1
    )
    return out.getvalue()


@dataclass(frozen=True)
class StoredFile:
    width: int
    height: int
    fmt: str


class FileStore:
    """Files the fake providers hand out as URLs; bounded, oldest dropped first."""

    def __init__(self, capacity: int = 10_000) -> None:
        self._files: OrderedDict[str, StoredFile] = OrderedDict()
        self._capacity = capacity
        self._lock = threading.Lock()

    def add(self, width: int, height: int, fmt: str) -> str:
        """Store a file and return its name (``<token>.<ext>``)."""
        token = secrets.token_urlsafe(12)
        ext = "jpg" if fmt in ("jpg", "jpeg") else fmt
        name = f"{token}.{ext}"
        with self._lock:
            self._files[name] = StoredFile(width, height, fmt)
            while len(self._files) > self._capacity:
                self._files.popitem(last=False)
        return name

    def get(self, name: str) -> StoredFile | None:
        with self._lock:
            return self._files.get(name)


def parse_size(text: str | None, default: tuple[int, int] = (1024, 1024)) -> tuple[int, int]:
    """``"1024x768"`` to (1024, 768); an aspect ratio or ``auto`` gives the default."""
    if not text or "x" not in text:
        return default
    w, _, h = text.partition("x")
    try:
        width, height = int(w), int(h)
    except ValueError:
        return default
    if not (16 <= width <= 8192 and 16 <= height <= 8192):
        return default
    return width, height


ASPECT_1K = {
    "1:1": (1024, 1024),
    "3:4": (896, 1280),
    "4:3": (1280, 896),
    "9:16": (768, 1408),
    "16:9": (1408, 768),
}


def size_for_aspect(aspect: str | None, resolution: str | None = "1K") -> tuple[int, int]:
    """Imagen's output size for an aspect ratio at 1K (2K doubles both sides)."""
    width, height = ASPECT_1K.get(aspect or "1:1", (1024, 1024))
    if (resolution or "1K").upper() == "2K":
        return width * 2, height * 2
    return width, height


def new_id() -> str:
    return secrets.token_hex(12)
