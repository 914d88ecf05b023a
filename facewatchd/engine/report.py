"""What a worker finds in one file: plain, immutable data, no dlib.

A FaceReport crosses from a worker process to the main process; it carries the
content hash and the stat signature seen while reading, so the main process can
tell whether the file changed before it moves it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ..errors import UsageError

Box = tuple[int, int, int, int]  # top, right, bottom, left, in upright original pixels


@dataclass(frozen=True)
class Signature:
    """Identity and version of a file: if any of these change, it is another file."""

    device: int
    inode: int
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, st: os.stat_result) -> Signature:
        return cls(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


@dataclass(frozen=True)
class Face:
    box: Box
    encoding: np.ndarray  # 128 float64, the dlib ResNet descriptor
    score: float  # detector confidence; higher is surer; below 0: a weak face (faces.py)
    time: float | None = None  # seconds into a video
    side: float = 0.0  # the face box's side in the pixels the encoder saw (0: unknown)
    sharpness: float = 0.0  # variance of the Laplacian of the encoder's face chip (0: unknown)


@dataclass(frozen=True)
class FaceReport:
    path: str
    kind: str  # "image" or "video"
    sha256: str = ""
    signature: Signature | None = None
    size: tuple[int, int] = (0, 0)  # upright width, height
    faces: tuple[Face, ...] = ()
    frame_times: tuple[float, ...] = ()  # the video frames looked at
    error: str | None = None  # set when the file could not be analysed
    seconds: float = 0.0
    # The worker died on it twice or ran out of time: it is set aside in failed/, not retried.
    abandoned: bool = False
    # A small JPEG of the picture (of a video: the frame with the most faces), and that frame's time.
    thumbnail: bytes = b""
    thumbnail_time: float | None = None
    orientation: int = 1  # EXIF's: how the stored picture is turned upright (boxes are upright)

    @property
    def failed(self) -> bool:
        return self.error is not None


def parse_box(text: str) -> Box:
    """"L,T,W,H" (pixels of the upright photo, as `review face` reports boxes) → the
    engine's (top, right, bottom, left)."""
    try:
        left, top, width, height = (int(round(float(v))) for v in text.split(","))
    except ValueError:
        raise UsageError(f"--box {text!r}: give it as LEFT,TOP,WIDTH,HEIGHT in pixels") from None
    if width < 8 or height < 8 or left < 0 or top < 0:
        raise UsageError(f"--box {text!r}: a face of at least 8 x 8 pixels, inside the photo")
    return (top, left + width, top + height, left)
