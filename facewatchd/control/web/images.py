"""Pictures the page shows that are not files as they are: face crops, and a JPEG of
a photo the browser cannot show (HEIC, TIFF). Cut from the descriptor the daemon
passed, in the web process, so the daemon's loop never decodes anything.

Boxes are in upright original pixels (as the workers report them); media.load_image
decodes the same way the workers do (EXIF orientation, draft mode), so a box lands on
its face. A video's face is cut from the stored thumbnail when that is its frame, else
from one frame ffmpeg decodes at the face's time.
"""

from __future__ import annotations

import io
import os
import subprocess
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

import numpy as np
from PIL import Image

from ...engine import media

MAX_BYTES = 512 << 20  # as the workers (engine/faces.py): a larger "photo" is not decoded
CROP_SIDE = 192  # pixels, the crop's longer side
MARGIN = 0.3  # of the box's size, added on each side: some hair and chin
DISPLAY_SIDE = 1280  # a converted photo is at most twice this on its longer side
# Decoding is CPU work; the page asks for dozens of crops at once. Two at a time.
_decoding = threading.BoundedSemaphore(2)
# Types a browser shows as they are; the others are converted (photos) or downloaded.
BROWSER_TYPES = {
    ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".jpe": "image/jpeg", ".png": "image/png",
    ".gif": "image/gif", ".webp": "image/webp", ".bmp": "image/bmp",
    ".mp4": "video/mp4", ".m4v": "video/mp4", ".mov": "video/mp4", ".webm": "video/webm",
    ".mkv": "video/x-matroska",
}
CONVERTED = frozenset({".heic", ".heif", ".tif", ".tiff"})


def read_all(fd: int, limit: int = MAX_BYTES) -> bytes:
    size = os.fstat(fd).st_size
    if size > limit:
        raise ValueError(f"larger than {limit >> 20} MiB")
    chunks, offset = [], 0
    while chunk := os.pread(fd, 1 << 20, offset):
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks)


def jpeg(image: Image.Image, quality: int = 85) -> bytes:
    out = io.BytesIO()
    image.convert("RGB").save(out, "JPEG", quality=quality)
    return out.getvalue()


def display_jpeg(fd: int) -> bytes:
    """A JPEG of the photo, upright, for formats the browser cannot show."""
    with _decoding:
        frame, _, _ = media.load_image(read_all(fd), DISPLAY_SIDE)
        return jpeg(Image.fromarray(frame.pixels), 88)


def crop_face(fd: int, info: dict[str, Any],
              thumbnail: Callable[[], tuple[bytes, float | None] | None]) -> bytes:
    """The face `info["box"]` of the file behind `fd`, with a margin, as a small JPEG."""
    with _decoding:
        if info.get("kind") == "video":
            pixels, scale = _video_frame(fd, info, thumbnail)
        else:
            frame, _, _ = media.load_image(read_all(fd), 1600)
            pixels, scale = frame.pixels, frame.scale
        top, right, bottom, left = (v / scale for v in info["box"])
        pad_x, pad_y = (right - left) * MARGIN, (bottom - top) * MARGIN
        height, width = pixels.shape[:2]
        x0, x1 = max(0, int(left - pad_x)), min(width, int(right + pad_x) + 1)
        y0, y1 = max(0, int(top - pad_y)), min(height, int(bottom + pad_y) + 1)
        if x1 <= x0 or y1 <= y0:
            raise ValueError("the face's box is outside the picture")
        face = Image.fromarray(pixels[y0:y1, x0:x1])
        face.thumbnail((CROP_SIDE, CROP_SIDE), Image.Resampling.LANCZOS)
        return jpeg(face)


def _video_frame(fd: int, info: dict[str, Any],
                 thumbnail: Callable[[], tuple[bytes, float | None] | None]) -> tuple[np.ndarray, float]:
    width = (info.get("size") or [0, 0])[0]
    if not width:
        raise ValueError("the video's size is unknown")
    if info.get("time") == info.get("thumbnail_time"):
        found = thumbnail()
        if found is not None:
            pixels = np.asarray(Image.open(io.BytesIO(found[0])).convert("RGB"))
            return pixels, width / pixels.shape[1]
    # Another frame: ffmpeg decodes it through the descriptor (it reopens it through
    # /proc, which needs read permission on the file itself).
    result = subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-ss", f"{info.get('time') or 0:.3f}",
         "-i", f"file:/proc/self/fd/{fd}", "-frames:v", "1", "-f", "image2pipe",
         "-vcodec", "png", "pipe:"],
        pass_fds=(fd,), capture_output=True, timeout=30, check=False)
    if result.returncode != 0 or not result.stdout:
        raise ValueError("cannot decode that frame of the video")
    pixels = np.asarray(Image.open(io.BytesIO(result.stdout)).convert("RGB"))
    return pixels, width / pixels.shape[1]


class Cache:
    """Least recently used bytes, up to `budget` bytes in all (crops are immutable:
    an item id or a reference id always names the same content)."""

    def __init__(self, budget: int = 32 << 20) -> None:
        self.budget = budget
        self.used = 0
        self._items: OrderedDict[Hashable, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> bytes | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: Hashable, value: bytes) -> None:
        with self._lock:
            old = self._items.pop(key, None)
            self.used += len(value) - (len(old) if old else 0)
            self._items[key] = value
            while self.used > self.budget and self._items:
                _, dropped = self._items.popitem(last=False)
                self.used -= len(dropped)
