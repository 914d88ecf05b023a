"""Face detection and encoding: the only module that imports dlib.

Uses the models of face_recognition_models directly (the HOG or CNN detector, the
5-point landmark model and the ResNet encoder): loading them costs ~0.7 s and ~55 MB
once per process, against ~1.6 s and ~140 MB for `import face_recognition`, which
also loads models this engine never uses.

Costs on one core (dlib-bin): HOG detection ~0.2 s on a grey 1600 px image at upsample 0
(~0.3 s in colour), ~1.4 s at upsample 1; encoding ~0.13 s a face. So a photo is searched at max_side
without upsampling (faces down to 80 px there, 5% of its longer side), and only
pictures smaller than max_side are upsampled: the detector never sees more than
max_side pixels a side. The face_recognition CLI doubles every photo after shrinking
it to 1600 px, 5x the work, for faces of 2.5% of the side.
"""

from __future__ import annotations

import hashlib
import os
import stat
import time
from dataclasses import replace
from pathlib import Path

import dlib
import face_recognition_models as models
import numpy as np

from ..errors import MediaError
from . import kinds, media
from .report import Box, Face, FaceReport, Signature

# An image larger than this is not a photo anyone needs sorted; refuse before reading.
MAX_IMAGE_BYTES = 512 * 1024 * 1024
_CHUNK = 1024 * 1024


class FaceEngine:
    """Models loaded once; `analyse` turns one file into a FaceReport."""

    def __init__(self, model: str = "hog", upsample: int = 1, max_side: int = 1600,
                 video_frames: int = 8) -> None:
        self.upsample = upsample
        self.max_side = max_side
        self.video_frames = video_frames
        if model == "cnn":
            self._cnn = dlib.cnn_face_detection_model_v1(models.cnn_face_detector_model_location())
        else:
            self._cnn = None
            self._hog = dlib.get_frontal_face_detector()
        self._landmarks = dlib.shape_predictor(models.pose_predictor_five_point_model_location())
        self._encoder = dlib.face_recognition_model_v1(models.face_recognition_model_location())

    def analyse(self, path: str | Path) -> FaceReport:
        """Hash, decode, detect and encode every face in the file at `path`.

        Never raises for a bad file: the report's `error` says what went wrong. A file
        that could be opened always comes back with its hash and signature, so it can
        be set aside; symlinks and non-regular files are refused without being read.
        """
        started = time.monotonic()
        report = FaceReport(str(Path(path)), kinds.analysed_as(path))
        try:
            # O_NOFOLLOW refuses a symlink; O_NONBLOCK keeps a FIFO from blocking the open.
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as e:
            return replace(report, error=f"cannot open: {e.strerror}")
        return self._analyse_fd(fd, report, started)

    def analyse_bytes(self, data: bytes, path: str | Path) -> FaceReport:
        """As `analyse`, for a file's content sent from elsewhere (a Dask worker given
        the bytes by the daemon); `path` names it and tells an image from a video.

        The content goes into an anonymous in-memory file (memfd), so images and videos
        (ffmpeg reads /proc/PID/fd/N) take the very same path as a file on disk. The
        report's signature is the memfd's: the sender puts its own in.
        """
        started = time.monotonic()
        report = FaceReport(str(Path(path)), kinds.analysed_as(path))
        fd = os.memfd_create("facewatchd", os.MFD_CLOEXEC)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.lseek(fd, 0, os.SEEK_SET)
        except OSError as e:
            os.close(fd)
            return replace(report, error=f"cannot hold the content: {e.strerror or e}")
        return self._analyse_fd(fd, report, started)

    def _analyse_fd(self, fd: int, report: FaceReport, started: float) -> FaceReport:
        """The analysis of the open file `fd`, which it closes."""
        kind = report.kind
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                return replace(report, error="not a regular file")
            report = replace(report, signature=Signature.of(st))
            if kind == "image":
                if st.st_size > MAX_IMAGE_BYTES:
                    raise MediaError(f"image larger than {MAX_IMAGE_BYTES >> 20} MiB")
                data = _read_all(fd)
                report = replace(report, sha256=hashlib.sha256(data).hexdigest())
                frame, size = media.load_image(data, self.max_side)
                frames = [frame]
            else:
                report = replace(report, sha256=_hash_fd(fd))
                # ffmpeg reads the very file we hashed, through our descriptor.
                frames = media.load_video_frames(Path(f"/proc/{os.getpid()}/fd/{fd}"),
                                                 self.video_frames, self.max_side)
                h, w = frames[0].pixels.shape[:2]
                size = (round(w * frames[0].scale), round(h * frames[0].scale))
            found = [self.faces_in(frame) for frame in frames]
            shown = max(range(len(frames)), key=lambda i: len(found[i]))  # the first, if none
            return replace(report, size=size, faces=tuple(face for faces in found for face in faces),
                           frame_times=tuple(f.time for f in frames if f.time is not None),
                           thumbnail=media.thumbnail(frames[shown]),
                           thumbnail_time=frames[shown].time,
                           seconds=time.monotonic() - started)
        except MediaError as e:
            return replace(report, error=str(e), seconds=time.monotonic() - started)
        except OSError as e:
            return replace(report, error=f"cannot read: {e.strerror or e}",
                           seconds=time.monotonic() - started)
        finally:
            os.close(fd)

    def faces_in(self, frame: media.Frame) -> list[Face]:
        """Detect and encode the faces in one frame; boxes in original pixels."""
        # HOG on grey finds the same faces (126 of the 127 on colour in the development
        # photos) in two thirds of the time; landmarks and encodings use the colour frame.
        seen, factor = frame.for_detection(self.max_side, grey=self._cnn is None)
        # Double the picture only while it stays within max_side: a crop or a video
        # frame is searched down to 40 px faces, a photo already at max_side down to 80 px.
        upsample = 0
        while upsample < self.upsample and max(seen.shape[:2]) << (upsample + 1) <= self.max_side:
            upsample += 1
        if self._cnn is not None:
            found = [(d.rect, d.confidence) for d in self._cnn(seen, upsample)]
        else:
            rects, scores, _ = self._hog.run(seen, upsample, 0.0)
            found = list(zip(rects, scores, strict=True))
        if not found:
            return []
        image = frame.pixels
        found = [(_scaled(rect, factor), score) for rect, score in found]
        shapes = dlib.full_object_detections()
        for rect, _ in found:
            shapes.append(self._landmarks(image, rect))
        encodings = self._encoder.compute_face_descriptor(image, shapes)
        height, width = image.shape[:2]
        return [
            Face(_box(rect, frame.scale, width, height), np.array(encoding), float(score), frame.time)
            for (rect, score), encoding in zip(found, encodings, strict=True)
        ]


def _scaled(rect: dlib.rectangle, factor: float) -> dlib.rectangle:
    if factor == 1.0:
        return rect
    return dlib.rectangle(round(rect.left() * factor), round(rect.top() * factor),
                          round(rect.right() * factor), round(rect.bottom() * factor))


def _box(rect: dlib.rectangle, scale: float, width: int, height: int) -> Box:
    top, bottom = max(rect.top(), 0), min(rect.bottom(), height - 1)
    left, right = max(rect.left(), 0), min(rect.right(), width - 1)
    return (round(top * scale), round(right * scale), round(bottom * scale), round(left * scale))


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, _CHUNK):
        chunks.append(chunk)
    return b"".join(chunks)


def _hash_fd(fd: int) -> str:
    digest = hashlib.sha256()
    while chunk := os.read(fd, _CHUNK):
        digest.update(chunk)
    os.lseek(fd, 0, os.SEEK_SET)
    return digest.hexdigest()
