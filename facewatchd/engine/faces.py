"""Face detection and encoding: the only module that imports dlib.

Uses the models of face_recognition_models directly (the HOG or CNN detector, the
5-point landmark model and the ResNet encoder): `import face_recognition` would load
models this engine never uses, at twice the time and memory per worker. HOG finds
faces of 80 px and more in what it is shown, and its cost follows the pixels searched.

Where faces are looked for, and why (what each costs: docs/performance.md):
- A picture of up to 1000 px is searched once, enlarged towards `max_side` by at most
  2**upsample: faces of 80 px there, 5% of its longer side.
- In a bigger photo, faces are wanted down to `min_face` px at max_side (2.5% of the
  side at the defaults: the CLI's reach). `fine_pass` says how, chosen once per engine
  (FINE_SEARCHES): "always" searches the whole photo at that finer side; "proposals"
  (the default) searches it at a quarter of that side for the large faces and lets
  BlazeFace (engine/proposals.py) propose the smaller ones, each searched by HOG in a
  crop that puts it at ~110 px, so every face kept is still one HOG found; "no_face"
  searches finely only where the first pass found no face; "never" stops at 5%.
- Turned, half-hidden faces score below HOG's threshold. When no face is found at all,
  the best detection down to `weak_threshold` is taken as a weak face (a negative
  score). It costs nothing to look: the same searches, a lower threshold.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import os
import stat
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

# dlib does its matrix products (the encoder) with OpenBLAS, which would start a thread
# per core in every process; the pool already runs one worker per core. OpenBLAS reads
# this when it loads, with dlib, on the next line.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import dlib
import face_recognition_models as models
import numpy as np

from ..errors import MediaError
from . import kinds, media, proposals, rects
from .report import Box, Face, FaceReport, Signature

log = logging.getLogger("facewatchd.engine")

# An image larger than this is not a photo anyone needs sorted; refuse before reading.
MAX_IMAGE_BYTES = 512 * 1024 * 1024
_CHUNK = 1024 * 1024


@functools.cache
def shared_models() -> tuple[dlib.fhog_object_detector, dlib.shape_predictor, dlib.face_recognition_model_v1]:
    """The HOG detector, the 5-point landmark model and the encoder, loaded once per
    process (~0.1 CPU s with the detector's saved copy, `frontal_detector`). The pool's
    forkserver loads them before forking (engine/preload.py): its workers start with
    them, their pages shared. All three are only read once loaded."""
    return (frontal_detector(),
            dlib.shape_predictor(models.pose_predictor_five_point_model_location()),
            dlib.face_recognition_model_v1(models.face_recognition_model_location()))


def frontal_detector(cache: Path | None = None) -> dlib.fhog_object_detector:
    """dlib's frontal face detector, from the copy an earlier start saved in `cache`
    (default: `cache_dir()`), saving one if there is none. dlib unpacks its built-in
    detector from a compressed string, ~0.19 CPU s at every start; its saved copy, the
    same filters, loads in ~2 ms. A copy that cannot be read or saved is not needed."""
    try:
        folder = cache or cache_dir()
    except RuntimeError:  # no home directory to keep it in
        return dlib.get_frontal_face_detector()
    path = folder / f"frontal_face_detector-dlib-{dlib.__version__}.svm"
    try:
        return dlib.fhog_object_detector(str(path))
    except RuntimeError:  # none saved yet, or unreadable (dlib's serialization_error)
        pass
    detector = dlib.get_frontal_face_detector()
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        detector.save(str(partial))
        os.replace(partial, path)  # never a half-written copy under the name
    except (OSError, RuntimeError) as e:
        log.debug("cannot save the face detector in %s: %s", folder, e)
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
    return detector


def cache_dir() -> Path:
    """Where the engine keeps what it can make again: systemd's CacheDirectory= (the
    unit's /var/cache/facewatchd), else $XDG_CACHE_HOME/facewatchd or ~/.cache/facewatchd."""
    systemd = os.environ.get("CACHE_DIRECTORY", "").split(":")[0]
    if systemd:
        return Path(systemd)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "facewatchd"


class FaceEngine:
    """Models loaded once; `analyse` turns one file into a FaceReport."""

    def __init__(self, model: str = "hog", upsample: int = 1, max_side: int = 1600,
                 video_frames: int = 8, fine_pass: str = "proposals", min_face: int = 40,
                 weak_threshold: float = -0.5) -> None:
        self.upsample = upsample
        self.max_side = max_side
        self.video_frames = video_frames
        self.min_face = min_face
        self.weak_threshold = min(0.0, weak_threshold)
        hog, self._landmarks, self._encoder = shared_models()
        if model == "cnn":
            self._cnn = dlib.cnn_face_detection_model_v1(models.cnn_face_detector_model_location())
        else:
            self._cnn = None
            self._hog = hog
        self._proposals = proposals.load() if fine_pass == "proposals" and model == "hog" else None
        if fine_pass == "proposals" and model == "hog" and self._proposals is None:
            log.warning("BlazeFace or LiteRT is missing or unusable: small faces are searched for by HOG "
                        "at twice max_side (fine_pass = \"always\", ~2x slower on big photos)")
            fine_pass = "always"
        elif fine_pass == "proposals" and model != "hog":
            fine_pass = "always"  # crops are searched by HOG: the CNN searches finely instead
        self._fine_search = FINE_SEARCHES[fine_pass]

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
                frame, size, orientation = media.load_image(data, self.max_side)
                report = replace(report, orientation=orientation)
                frames = [frame]
            else:
                report = replace(report, sha256=_hash_fd(fd))
                # ffmpeg reads the very file we hashed, through our descriptor.
                frames = media.load_video_frames(Path(f"/proc/{os.getpid()}/fd/{fd}"),
                                                 self.video_frames, self.max_side)
                h, w = frames[0].pixels.shape[:2]
                size = (round(w * frames[0].scale), round(h * frames[0].scale))
            found = [self.faces_in(frame, fine=kind == "image") for frame in frames]
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

    def faces_in(self, frame: media.Frame, fine: bool = True) -> list[Face]:
        """Detect and encode the faces in one frame; boxes in original pixels. `fine`:
        allow the finer pass and the weak fallback (images; a video has 8 frames, and
        its faceless frames would each pay for them)."""
        finer = self._finer_side(frame) if fine else None
        found = self._whole(frame) if finer is None else self._fine_search(self, frame, finer)
        faces = rects.strong(found)
        if not faces and fine and found:
            faces = [max(found, key=lambda f: f[1])]
        return self._encoded(frame, faces)

    def faces_at(self, path: str | Path, boxes: list[Box]) -> list[Face]:
        """The faces in `boxes` (upright pixels of the image at `path`: a face a photo
        tool tagged, or a person drew), encoded whether or not the detector finds them:
        the landmarks are looked for within each box. Raises MediaError (as analyse would
        report it) for a file that cannot be decoded."""
        with open(path, "rb") as f:
            frame, _, _ = media.load_image(f.read(), self.max_side)
        height, width = frame.pixels.shape[:2]
        at = frame.scale
        found = [(dlib.rectangle(max(0, round(left / at)), max(0, round(top / at)),
                                 min(width - 1, round(right / at)), min(height - 1, round(bottom / at))), 0.0)
                 for top, right, bottom, left in boxes]
        return self._encoded(frame, found)

    def _encoded(self, frame: media.Frame, faces: list[rects.Detection]) -> list[Face]:
        if not faces:
            return []
        image = frame.pixels
        shapes = dlib.full_object_detections()
        for rect, _ in faces:
            shapes.append(self._landmarks(image, rect))
        # The encoder given the chips gives the very descriptors it would cut them for
        # itself; cut once, they serve for the sharpness too.
        chips = rects.chips(image, shapes)
        encodings = self._encoder.compute_face_descriptor(chips)
        height, width = image.shape[:2]
        return [
            Face(rects.box_of(rect, frame.scale, width, height), np.array(encoding), float(score), frame.time,
                 side=float(min(rect.width(), rect.height())), sharpness=rects.sharpness(chip))
            for (rect, score), encoding, chip in zip(faces, encodings, chips, strict=True)
        ]

    # The searches of one frame: the first pass alone, or one of FINE_SEARCHES when a
    # face of min_face px is below what it finds (at `finer`, it is 80 px).

    def _at(self, frame: media.Frame, side: int, enlarge: float = 1.0) -> list[rects.Detection]:
        # HOG on grey finds the same faces as on colour in two thirds of the time;
        # landmarks and encodings use the colour frame.
        return self._detect(*frame.for_detection(side, grey=self._cnn is None, enlarge=enlarge))

    def _whole(self, frame: media.Frame, finer: int = 0) -> list[rects.Detection]:
        """The first pass: the frame at max_side (a small one enlarged towards it)."""
        return self._at(frame, self.max_side, float(2 ** self.upsample))

    def _finely(self, frame: media.Frame, finer: int) -> list[rects.Detection]:
        """One search at the finer side, which covers the first pass's scales too."""
        return self._at(frame, finer, finer)

    def _finely_if_none(self, frame: media.Frame, finer: int) -> list[rects.Detection]:
        found = self._whole(frame)
        return found if rects.strong(found) else rects.merge(found, self._finely(frame, finer))

    def _proposed(self, frame: media.Frame, finer: int) -> list[rects.Detection]:
        """HOG searches the whole picture for the large faces only; BlazeFace proposes the
        others, down to min_face, and HOG looks for each in a crop."""
        coarse = round(finer / _COARSE)
        if max(frame.pixels.shape[:2]) >= self.max_side:
            coarse = min(coarse, _COARSE_SIDE)
        found = self._at(frame, coarse)
        return rects.merge(found, self._confirmed(frame, found, finer, coarse))

    def _detect(self, seen: np.ndarray, factor: float) -> list[rects.Detection]:
        """Detections in `seen` (scores down to weak_threshold), as frame rectangles."""
        if self._cnn is not None:
            found = [(d.rect, d.confidence) for d in self._cnn(seen, 0)]
        else:
            boxes, scores, _ = self._hog.run(seen, 0, self.weak_threshold)
            found = list(zip(boxes, scores, strict=True))
        return [(rects.scaled(rect, factor), score) for rect, score in found]

    def _confirmed(self, frame: media.Frame, found: list[rects.Detection], finer: int,
                   coarse: int) -> list[rects.Detection]:
        """HOG's detections (down to weak_threshold) in crops around the faces BlazeFace
        proposes, down to `min_face` px at max_side, where the first pass, at `coarse`
        px, found no face: mostly the faces below its 80 px; also the larger ones it
        scored below HOG's threshold there, for the weak-face fallback."""
        assert self._proposals is not None
        height, width = frame.pixels.shape[:2]
        long_side = max(height, width)
        # A proposal this small (frame px) is below min_face (BlazeFace's box is ~0.8x
        # HOG's). A face the first pass found below `reach`, at the bottom of its range,
        # is often boxed loosely and scored low: searched in its crop it is boxed as HOG
        # boxes larger faces, and rects.merge keeps the better.
        least = 0.6 * 80 * long_side / finer
        reach = 1.25 * 80 * long_side / coarse
        held = [face for face in rects.strong(found) if face[0].width() >= reach]
        kept: list[rects.Detection] = []
        # A proposal centred in a held face is dropped below: BlazeFace skips the tiles
        # wholly inside one (a close portrait's: a fifth of the bench's tiles).
        within = [(r.left(), r.top(), r.right(), r.bottom()) for r, _ in held]
        for left, top, right, bottom, _ in self._proposals(frame.picture, within):
            side, cx, cy = max(right - left, bottom - top), (left + right) / 2, (top + bottom) / 2
            if side < least or any(rects.holds(rect, cx, cy) for rect, _ in held + rects.strong(kept)):
                continue
            x0, y0 = max(0, round(cx - side)), max(0, round(cy - side))
            x1, y1 = min(width, round(cx + side)), min(height, round(cy + side))
            if x1 <= x0 or y1 <= y0:  # centred in a tile's padding, past the edge
                continue
            for size, picture in zip(_CROP_FACES, (frame.grey, frame.picture), strict=False):
                factor = side / size
                crop = picture.crop((x0, y0, x1, y1))
                boxes, scores, _ = self._hog.run(np.asarray(media.resized(crop, 1 / factor)), 0,
                                                 self.weak_threshold)
                kept += [(rects.shifted(rects.scaled(rect, factor), x0, y0), score)
                         for rect, score in zip(boxes, scores, strict=True)]
                # Near its threshold HOG's score moves with the scale: a near miss (a weak
                # detection, no face) is looked at once more, larger and in colour, as
                # the CLI searches (HOG takes each pixel's strongest channel's gradient).
                if not boxes or max(scores) >= 0:
                    break
        return kept

    def _finer_side(self, frame: media.Frame) -> int | None:
        """The side at which a face of `min_face` px at the first pass's scale is 80 px
        (twice that side for 40), searched from the frame's own pixels (a 12 MP JPEG
        decodes at 2000 px: sharper than the 1600 px copy). None when the first pass is
        already (nearly) that fine: small pictures, enlarged for it."""
        base = min(max(frame.pixels.shape[:2]), self.max_side)
        target = round(base * 80 / self.min_face)
        enlarge = float(2 ** self.upsample)
        return None if target <= 1.25 * frame.detection_side(self.max_side, enlarge) else target


# fine_pass → how a frame that needs a finer search is searched.
FINE_SEARCHES: dict[str, Callable[[FaceEngine, media.Frame, int], list[rects.Detection]]] = {
    "never": FaceEngine._whole, "always": FaceEngine._finely,
    "no_face": FaceEngine._finely_if_none, "proposals": FaceEngine._proposed}


# With proposals, HOG's own search is at this fraction of the finer side: faces of 160 px
# at max_side (10% of a big photo's side) and more. Below, BlazeFace proposes.
_COARSE = 4
# ... but a photo of max_side and more (a phone's) at this side (px): faces of a fifth of
# its side and more, where BlazeFace's tiles (0.3 of the side) overlap them; a quarter of
# the pixels of 800. A smaller picture keeps its quarter: at 400, a 910x1137 reference of
# the functional set was boxed more loosely (docs/performance.md, "Per photo").
_COARSE_SIDE = 400

# A proposal is searched for at the first size (px), in grey: above HOG's 80 px window,
# with room for BlazeFace's box being larger than the face; where HOG's best there is
# weak, at the second, in colour.
_CROP_FACES = (110, 150)

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
