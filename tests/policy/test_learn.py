"""Which sure match may teach (auto_reference), on made-up encodings."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from facewatchd.config import RecognitionConfig
from facewatchd.engine.report import Face, FaceReport, Signature
from facewatchd.policy.decide import Policy, References, decide
from facewatchd.policy.learn import auto_reference

from .test_decide import ANNA, BOB, orthogonal

REFS = References((1, 2), ("Anna", "Bob"), np.stack([ANNA, BOB]))
POLICY = Policy(lambda person: 0.56)
ON = RecognitionConfig(Path("/refs"), auto_reference=True)


def photo(*faces: Face, kind: str = "image") -> FaceReport:
    return FaceReport("/in/x.jpg", kind, "ab" * 32, Signature(1, 2, 3, 4), (1000, 800), faces)


def at(distance: float, **face: float) -> Face:
    values = {"score": 1.0, "side": 120.0, "sharpness": 80.0} | face
    return Face((0, 10, 10, 0), ANNA + orthogonal(ANNA) * distance, values["score"],
                side=values["side"], sharpness=values["sharpness"])


def learned(report: FaceReport, refs: References = REFS, rec: RecognitionConfig = ON) -> int | None:
    return auto_reference(report, decide(report, refs, POLICY), refs, rec)


def test_a_clear_sure_match_alone_in_a_sharp_photo_teaches() -> None:
    assert learned(photo(at(0.35))) == 0


def test_nothing_is_learned_unless_asked() -> None:
    assert learned(photo(at(0.35)), rec=replace(ON, auto_reference=False)) is None


def test_only_a_well_inside_sure_match_that_adds_variety_teaches() -> None:
    assert learned(photo(at(0.48))) is None  # sure, but beyond auto_distance 0.45
    assert learned(photo(at(0.1))) is None  # a near-copy of her reference (variety 0.25)


def test_never_from_several_faces_a_video_a_weak_small_or_blurred_face() -> None:
    two = photo(at(0.35), Face((0, 10, 10, 0), BOB, 1.0, side=120.0, sharpness=80.0))
    assert learned(two) is None
    assert learned(photo(at(0.35), kind="video")) is None
    assert learned(photo(at(0.35, score=-0.2))) is None
    assert learned(photo(at(0.35, side=40.0))) is None
    assert learned(photo(at(0.35, sharpness=10.0))) is None


def test_a_person_with_auto_cap_automatic_references_learns_no_more() -> None:
    far = [ANNA + orthogonal(ANNA) * 2.0 for _ in range(20)]  # far from any face here
    full = References(tuple(range(1, 23)), ("Anna",) * 21 + ("Bob",),
                      np.stack([ANNA, *far, BOB]), (False,) + (True,) * 20 + (False,))
    assert learned(photo(at(0.35)), refs=full) is None
    assert learned(photo(at(0.35)), refs=full, rec=replace(ON, auto_cap=21)) == 0
