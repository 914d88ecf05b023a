from __future__ import annotations

import io
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facewatchd.engine import media
from facewatchd.errors import MediaError


def test_exif_orientation_is_honoured(data: Path) -> None:
    photo = data / "formats" / "rose_leslie_exif_orientation6.jpg"
    with Image.open(photo) as image:
        stored = image.size
    frame, size, _ = media.load_image(photo.read_bytes(), 1600)
    assert size == stored[::-1]  # orientation 6: stored sideways, shown upright
    assert frame.pixels.shape[:2] == (size[1], size[0])


def test_a_large_jpeg_is_decoded_in_draft_mode_and_scaled_back(data: Path) -> None:
    big = io.BytesIO()
    with Image.open(data / "people" / "Barack_Obama" / "obama.jpg") as image:
        image.resize((4000, 3000)).save(big, "JPEG")
    frame, size, _ = media.load_image(big.getvalue(), 1000)
    assert size == (4000, 3000)
    assert max(frame.pixels.shape[:2]) == 1000
    assert frame.scale == pytest.approx(4.0)


def test_sixteen_bit_greyscale_png_keeps_its_contrast() -> None:
    ramp = (np.arange(256 * 64, dtype=np.uint32).reshape(64, 256) * 4).astype(np.uint16)
    buf = io.BytesIO()
    Image.fromarray(ramp).save(buf, "PNG")
    frame, _, _ = media.load_image(buf.getvalue(), 1600)
    assert frame.pixels.dtype == np.uint8 and frame.pixels.shape == (64, 256, 3)
    assert frame.pixels.min() == 0 and 200 < frame.pixels.max() <= 255  # not clipped to white


def test_a_truncated_jpeg_is_a_media_error(data: Path) -> None:
    whole = (data / "people" / "Barack_Obama" / "obama.jpg").read_bytes()
    with pytest.raises(MediaError, match="cannot decode"):
        media.load_image(whole[: len(whole) // 2], 1600)


def test_text_named_jpg_is_a_media_error() -> None:
    with pytest.raises(MediaError):
        media.load_image(b"hello, I am not a photo\n", 1600)


def test_a_decompression_bomb_is_refused_before_decoding() -> None:
    # A valid 50,000 x 50,000 PNG header with a tiny body.
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 50000, 50000, 8, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b""))
    with pytest.raises(MediaError, match="decompression bomb"):
        media.load_image(png, 1600)


def test_video_frames_are_spread_over_the_clip_in_one_call(data: Path) -> None:
    frames = media.load_video_frames(data / "video" / "hamilton_clip.mp4", 8, 640)
    assert len(frames) == 8
    times = [f.time for f in frames]
    assert times == sorted(times) and times[0] < 1.0 and times[-1] > 7.0  # not all at 1 s
    assert frames[0].pixels.shape == (360, 640, 3)


def test_video_frames_come_downscaled_with_their_scale(data: Path) -> None:
    frames = media.load_video_frames(data / "video" / "pedestrians_1080p.mp4", 3, 960)
    assert frames[0].pixels.shape == (540, 960, 3)
    assert frames[0].scale == pytest.approx(2.0)


def ffmpeg(*args: str | Path) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *map(str, args)], check=True)


@pytest.mark.parametrize("suffix, codec", [
    (".mov", "libx264"), (".mkv", "libx264"), (".m4v", "libx264"), (".flv", "libx264"),
    (".avi", "mpeg4"), (".webm", "libvpx"),
])
def test_every_video_container_decodes(data: Path, tmp_path: Path, suffix: str, codec: str) -> None:
    clip = tmp_path / f"clip{suffix}"
    ffmpeg("-loop", "1", "-i", data / "people" / "Barack_Obama" / "obama.jpg", "-t", "2", "-r", "10",
           "-vf", "scale=640:-2", "-pix_fmt", "yuv420p", "-c:v", codec, clip)
    frames = media.load_video_frames(clip, 4, 1600)
    assert frames[0].pixels.shape == (800, 640, 3)
    # Spread over the clip. FLV's duration counts its start offset, so its last slot
    # may fall past the end: 3 or 4 frames.
    times = [f.time for f in frames]
    assert len(times) >= 3 and times == sorted(times) and times[0] < 0.5 and times[-1] > 1.2


def test_a_clip_shorter_than_a_second_gives_frames(data: Path, tmp_path: Path) -> None:
    clip = tmp_path / "short.mp4"
    ffmpeg("-loop", "1", "-i", data / "people" / "Barack_Obama" / "obama.jpg", "-t", "0.4",
           "-r", "10", "-vf", "scale=640:-2", "-pix_fmt", "yuv420p", clip)
    frames = media.load_video_frames(clip, 8, 1600)
    assert 1 <= len(frames) <= 4
    assert all(f.time < 0.4 for f in frames)


def test_a_file_with_no_video_stream_is_a_media_error(tmp_path: Path) -> None:
    audio = tmp_path / "voice.mp4"
    ffmpeg("-f", "lavfi", "-i", "sine=duration=1", "-c:a", "aac", audio)
    with pytest.raises(MediaError, match="no video stream"):
        media.load_video_frames(audio, 8, 1600)


def test_a_truncated_video_is_a_media_error(data: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes((data / "video" / "hamilton_clip.mp4").read_bytes()[:4096])
    with pytest.raises(MediaError):
        media.load_video_frames(broken, 8, 1600)


@pytest.mark.parametrize("height, width", [(300, 400), (640, 828), (800, 1000), (1600, 1200), (3000, 4000)])
def test_the_detection_side_is_known_before_the_picture_is_made(height: int, width: int) -> None:
    # The fine pass decides from it whether a first search at max_side is needed at all.
    frame = media.Frame(np.zeros((height, width, 3), np.uint8), 1.0)
    for max_side, enlarge in [(1600, 2.0), (1600, 1.0), (3200, 3200.0)]:
        seen, _ = frame.for_detection(max_side, grey=True, enlarge=enlarge)
        assert frame.detection_side(max_side, enlarge) == max(seen.shape), (max_side, enlarge)


@pytest.mark.parametrize("factor", [0.1, 0.4, 0.5, 0.79, 1.0, 1.6])
def test_resizing_keeps_the_picture_and_its_proportions(factor: float) -> None:
    # Shrinking by 2 or more averages blocks first: the picture must stay the same.
    pixels = np.zeros((1500, 2000, 3), np.uint8)
    pixels[500:1000, 800:1200] = 255
    out = np.asarray(media.resized(Image.fromarray(pixels), factor))
    assert out.shape == (round(1500 * factor), round(2000 * factor), 3)
    centre, corner = out[round(750 * factor), round(1000 * factor)], out[0, 0]
    assert centre.min() == 255 and corner.max() == 0
    frame = media.Frame(pixels, 1.0)
    assert frame.picture is frame.picture  # made once for every copy taken from it


def test_a_decoded_frame_keeps_its_picture_and_an_upright_one_is_not_copied(data: Path) -> None:
    # The picture every smaller copy is made from is the decoded image itself: the same
    # pixels as the frame's array, not a second copy made from it.
    photo = data / "people" / "Barack_Obama" / "obama.jpg"
    frame, _, orientation = media.load_image(photo.read_bytes(), 1600)
    assert orientation == 1
    assert "picture" in frame.__dict__ and frame.picture.mode == "RGB"
    assert np.array_equal(np.asarray(frame.picture), frame.pixels)
    turned, _, orientation = media.load_image(
        (data / "formats" / "rose_leslie_exif_orientation6.jpg").read_bytes(), 1600)
    assert orientation == 6 and np.array_equal(np.asarray(turned.picture), turned.pixels)
