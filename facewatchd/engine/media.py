"""Opening media: images as one upright RGB frame, videos as frames spread over the clip.

Every frame comes downscaled so its longer side is at most twice `max_side` pixels,
with the factor that maps its pixel coordinates back to the original; the detector
sees a copy of at most `max_side`. A JPEG is decoded in draft mode (the DCT scales by
1/2..1/8 while decoding, a fraction of a full decode); a video costs one ffmpeg run
that decodes up to the last sampled frame.
"""

from __future__ import annotations

import io
import json
import subprocess
import warnings
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import ffmpeg
import numpy as np
import pillow_heif
from PIL import Image, ImageOps

from ..errors import MediaError

# Phones reach 200 MP; a larger claim is a decompression bomb, refused before decoding.
MAX_IMAGE_PIXELS = 250_000_000
Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
pillow_heif.register_heif_opener()
THUMBNAIL_SIDE = 320  # pixels, the longer side
ORIENTATION = 0x0112  # the EXIF tag


@dataclass(frozen=True)
class Frame:
    """An upright RGB picture, `scale` original pixels per frame pixel."""

    pixels: np.ndarray  # (height, width, 3) uint8
    scale: float
    time: float | None = None  # seconds into the video; None for an image

    @classmethod
    def of(cls, image: Image.Image, scale: float) -> Frame:
        """The frame of a decoded RGB image, kept as its picture: not made again from the
        pixels (a copy of them each way, ~3 ms at 12 MP)."""
        frame = cls(np.asarray(image), scale)
        frame.__dict__["picture"] = image  # what cached_property would have stored
        return frame

    @cached_property
    def picture(self) -> Image.Image:
        """The pixels as a Pillow image, made once for every copy taken."""
        return Image.fromarray(self.pixels)

    @cached_property
    def grey(self) -> Image.Image:
        """The picture in grey, made once for every search in it."""
        return self.picture.convert("L")

    def for_detection(self, max_side: int, grey: bool, enlarge: float = 1.0) -> tuple[np.ndarray, float]:
        """The frame as the detector should see it, at most `max_side` pixels a side (grey:
        one channel), and how many frame pixels one of its pixels is. A smaller picture is
        enlarged towards `max_side`, by at most `enlarge` (1: never), so a picture just
        over max_side/2 (828 px) is searched for faces as small as one of 400 px is, at
        the cost of one max_side search."""
        image = self.grey if grey else self.picture
        factor = self._detection_factor(max_side, enlarge)
        if factor != 1.0:
            image = resized(image, factor)
        return np.asarray(image), self.pixels.shape[1] / image.width

    def detection_side(self, max_side: int, enlarge: float = 1.0) -> int:
        """The longer side of what for_detection would give, without making it."""
        return max(1, round(int(max(self.pixels.shape[:2])) * self._detection_factor(max_side, enlarge)))

    def _detection_factor(self, max_side: int, enlarge: float) -> float:
        side = max(self.pixels.shape[:2])
        factor = max_side / side if side > max_side else min(enlarge, max_side / side)
        return 1.0 if abs(factor - 1.0) <= 1e-3 else factor


def load_image(data: bytes, max_side: int) -> tuple[Frame, tuple[int, int], int]:
    """Decode an image held in memory; return the frame, the original upright size, and
    the EXIF orientation it was turned upright by (1: stored upright)."""
    try:
        with warnings.catch_warnings():
            # Pillow only warns between MAX_IMAGE_PIXELS and twice that: refuse both.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image: Image.Image = Image.open(io.BytesIO(data))
            original = image.size
            if image.format == "JPEG":
                # Let the decoder drop resolution it would only throw away later.
                factor = max_side / max(original)
                if factor < 1:
                    image.draft("RGB", (int(original[0] * factor), int(original[1] * factor)))
            image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise MediaError(f"refused as a decompression bomb: {e}") from None
    except Exception as e:  # Pillow raises many types for bad data
        raise MediaError(f"cannot decode image: {e}") from None
    # Draft mode scales both sides by the same power of two; the resize below keeps
    # the aspect too, so one factor maps frame pixels back to the original.
    scale = max(original) / max(image.size)
    try:
        orientation = int(image.getexif().get(ORIENTATION, 1))
    except Exception:
        orientation = 1
    if 2 <= orientation <= 8:  # else exif_transpose would only copy the picture (~3 ms at 12 MP)
        try:
            image = ImageOps.exif_transpose(image)
        except Exception:  # a broken EXIF block is no reason to lose the picture
            pass
    upright = (round(image.width * scale), round(image.height * scale))
    image = _to_rgb(image)
    # Up to twice max_side the frame is kept as decoded (draft mode gets a JPEG there):
    # detection looks at a shrunk grey copy, faces are encoded from these sharper pixels.
    if max(image.size) > 2 * max_side:
        shrink = max_side / max(image.size)
        size = (max(1, round(image.width * shrink)), max(1, round(image.height * shrink)))
        scale *= max(image.size) / max(size)
        image = image.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    return Frame.of(image, scale), upright, orientation if 1 <= orientation <= 8 else 1


def resized(image: Image.Image, factor: float) -> Image.Image:
    """`image` scaled by `factor`, bilinear. Shrinking by 2 or more first averages whole
    blocks of pixels (Image.reduce): the bilinear filter alone widens with the factor,
    and its cost with it."""
    size = (max(1, round(image.width * factor)), max(1, round(image.height * factor)))
    return image.resize(size, Image.Resampling.BILINEAR, reducing_gap=1.0)


def thumbnail(frame: Frame, side: int = THUMBNAIL_SIDE) -> bytes:
    """A small JPEG of the frame (~15 KB), for the review queue's contact sheet."""
    image = resized(frame.picture, min(1.0, side / max(frame.picture.size)))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=80)
    return out.getvalue()


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit greyscale: scale to 8 bits rather than clipping everything to white.
        wide = np.asarray(image, dtype=np.uint32)
        top = 65535 if image.mode.startswith("I;16") or wide.max() > 255 else 255
        image = Image.fromarray((wide * 255 // top).astype(np.uint8), "L")
    return image if image.mode == "RGB" else image.convert("RGB")


def load_video_frames(path: Path, count: int, max_side: int) -> list[Frame]:
    """Up to `count` frames from the middles of equal parts of the clip, from one ffmpeg run."""
    stream, duration = _probe_video(path)
    width, height = int(stream["width"]), int(stream["height"])
    if _rotation(stream) in (90, 270):  # ffmpeg turns the picture upright while decoding
        width, height = height, width
    shrink = min(1.0, max_side / max(width, height))
    # Even sizes: some pixel-format conversions round odd sizes.
    out_w, out_h = max(2, int(width * shrink) // 2 * 2), max(2, int(height * shrink) // 2 * 2)
    frames_in_clip = _frame_count(stream, duration)
    if frames_in_clip:
        count = max(1, min(count, frames_in_clip))
    if duration:
        step = duration / count
        offset = step / 2
    else:  # no duration in the container: sample twice a second from the start
        step, offset = 0.5, 0.0
    # The first frame after `offset`, then each frame at least `step` after the last taken.
    # (The fps filter would need the end of the stream to emit its last frame, which some
    # containers never deliver.)
    select = f"isnan(prev_selected_t)+gte(t-prev_selected_t,{step * 0.999:.6f})"
    args = (
        ffmpeg.input(f"file:{path}", ss=offset)
        .video.filter("select", select)
        .filter("scale", out_w, out_h)
        .output("pipe:", format="rawvideo", pix_fmt="rgb24", vframes=count, fps_mode="passthrough")
        .global_args("-nostdin", "-v", "error")
        .compile()
    )
    result = _run(args)
    if result.returncode != 0:
        raise MediaError(f"ffmpeg cannot decode the video: {_last_line(result.stderr)}")
    frame_bytes = out_w * out_h * 3
    n = len(result.stdout) // frame_bytes
    if n == 0:
        raise MediaError("ffmpeg decoded no frames from the video")
    pixels = np.frombuffer(result.stdout, np.uint8, n * frame_bytes).reshape(n, out_h, out_w, 3)
    scale = width / out_w
    return [Frame(pixels[i], scale, round(offset + i * step, 3)) for i in range(n)]


def _probe_video(path: Path) -> tuple[dict[str, Any], float | None]:
    result = _run(["ffprobe", "-v", "error", "-show_format", "-show_streams", "-of", "json",
                   f"file:{path}"])
    if result.returncode != 0:
        raise MediaError(f"ffprobe cannot read the video: {_last_line(result.stderr)}")
    info = json.loads(result.stdout)
    streams = [
        s for s in info.get("streams", [])
        if s.get("codec_type") == "video" and not s.get("disposition", {}).get("attached_pic")
    ]
    if not streams or not streams[0].get("width"):
        raise MediaError("the file has no video stream")
    stream = streams[0]
    for source in (stream, info.get("format", {})):
        try:
            duration = float(source["duration"])
            if duration > 0:
                return stream, duration
        except (KeyError, ValueError):
            pass
    return stream, None


def _rotation(stream: dict[str, Any]) -> int:
    rotation = stream.get("tags", {}).get("rotate")
    for side in stream.get("side_data_list", []):
        rotation = side.get("rotation", rotation)
    try:
        return int(float(rotation or 0)) % 360
    except ValueError:
        return 0


def _frame_count(stream: dict[str, Any], duration: float | None) -> int | None:
    try:
        return int(stream["nb_frames"])
    except (KeyError, ValueError):
        pass
    try:
        num, den = (int(x) for x in stream["avg_frame_rate"].split("/"))
        return max(1, int(duration * num / den)) if duration and den else None
    except (KeyError, ValueError):
        return None


def _run(args: list[str]) -> subprocess.CompletedProcess[bytes]:
    # The worker that runs this may be killed for taking too long; PR_SET_PDEATHSIG
    # takes the decoder down with it instead of leaving it running.
    return subprocess.run(args, capture_output=True, preexec_fn=die_with_parent, check=False)


def die_with_parent() -> None:
    """Have the kernel SIGKILL this process when its parent dies."""
    import ctypes
    import signal

    ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # 1 == PR_SET_PDEATHSIG


def _last_line(stderr: bytes) -> str:
    lines = stderr.decode(errors="replace").strip().splitlines()
    return lines[-1] if lines else "no message"
