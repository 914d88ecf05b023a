"""Learning from sure matches ([recognition] auto_reference): which face of a file just
sorted may become an automatic reference of its person. Pure; the sorter stores it."""

from __future__ import annotations

from ..config import RecognitionConfig
from ..engine.report import FaceReport
from ..vocabulary import Band, Outcome
from .decide import Decision, References


def auto_reference(report: FaceReport, decision: Decision, references: References,
                   rec: RecognitionConfig) -> int | None:
    """The face (an index into report.faces) to learn, or None.

    Only with auto_reference on, and only a face that is all of: alone in a photo
    (never from a file with several people, nor a video), not weak, matched within
    auto_distance (well inside the sure band) with the next person at least auto_margin
    further, at least auto_min_face px and auto_min_sharpness sharp, at least
    auto_variety from every reference its person has (variety, not near-copies), while
    its person has fewer than auto_cap automatic references. The figures that chose
    these: docs/recognition.md, "Learning from sure matches" (tests/eval/tune.py --stream).
    """
    if not rec.auto_reference or report.kind != "image" or len(report.faces) != 1:
        return None
    if decision.outcome != Outcome.SORTED or len(decision.faces) != 1:
        return None
    (v,) = decision.faces
    face = report.faces[v.face]
    if not (v.matched and v.band == Band.SURE and v.distance is not None and face.score >= 0):
        return None
    if not rec.auto_variety <= v.distance <= rec.auto_distance:
        return None
    if v.margin is not None and v.margin < rec.auto_margin:
        return None
    if face.side < rec.auto_min_face or face.sharpness < rec.auto_min_sharpness:
        return None
    if v.person is None or references.auto_count(v.person) >= rec.auto_cap:
        return None
    return v.face
