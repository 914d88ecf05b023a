"""Rectangles of dlib's, for faces.py: detections kept once, scaled, shifted and turned
into the boxes a FaceReport carries; and how sharp a face is as the encoder sees it."""

from __future__ import annotations

import dlib
import numpy as np

from .report import Box

# A detection: its rectangle in the frame's pixels and the detector's score.
Detection = tuple[dlib.rectangle, float]


def strong(found: list[Detection]) -> list[Detection]:
    return [f for f in found if f[1] >= 0.0]


def merge(first: list[Detection], second: list[Detection]) -> list[Detection]:
    """Both passes' detections, a face seen by both kept once (the better scored box)."""
    kept: list[Detection] = []
    for rect, score in sorted(first + second, key=lambda f: -f[1]):
        if all(overlap(rect, other) < 0.5 for other, _ in kept):
            kept.append((rect, score))
    return kept


def overlap(a: dlib.rectangle, b: dlib.rectangle) -> float:
    """Intersection over the smaller box: the same face found at two scales overlaps ~1."""
    inter = a.intersect(b)
    if inter.is_empty():
        return 0.0
    return float(inter.area()) / float(max(1, min(a.area(), b.area())))


def chips(image: np.ndarray, shapes: dlib.full_object_detections) -> list[np.ndarray]:
    """The faces aligned as the encoder sees them (150 px, its padding): made once, for
    both the encoder and `sharpness`."""
    return list(dlib.get_face_chips(image, shapes, 150, 0.25))


def sharpness(chip: np.ndarray) -> float:
    """Variance of the Laplacian of a face's aligned chip (`chips`), in grey: low for a
    blurred or upscaled face."""
    g = chip.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    lap = g[:-2, 1:-1] + g[2:, 1:-1] + g[1:-1, :-2] + g[1:-1, 2:] - 4 * g[1:-1, 1:-1]
    return round(float(lap.var()), 1)


def holds(rect: dlib.rectangle, x: float, y: float) -> bool:
    return bool(rect.left() <= x <= rect.right() and rect.top() <= y <= rect.bottom())


def shifted(rect: dlib.rectangle, dx: int, dy: int) -> dlib.rectangle:
    return dlib.rectangle(rect.left() + dx, rect.top() + dy, rect.right() + dx, rect.bottom() + dy)


def scaled(rect: dlib.rectangle, factor: float) -> dlib.rectangle:
    if factor == 1.0:
        return rect
    return dlib.rectangle(round(rect.left() * factor), round(rect.top() * factor),
                          round(rect.right() * factor), round(rect.bottom() * factor))


def box_of(rect: dlib.rectangle, scale: float, width: int, height: int) -> Box:
    top, bottom = max(rect.top(), 0), min(rect.bottom(), height - 1)
    left, right = max(rect.left(), 0), min(rect.right(), width - 1)
    return (round(top * scale), round(right * scale), round(bottom * scale), round(left * scale))
