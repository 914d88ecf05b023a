"""The decision policy: a FaceReport and the active references → a Decision.

Pure and cheap: every face against every reference is one matrix product, then one
minimum per person.
A Decision is data that says which face, which reference, what distance and which
rule decided; the ledger, `why` and the review queue all show this same record.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, Literal

import numpy as np

from ..engine.report import FaceReport
from ..vocabulary import Band, Outcome, Reason


@dataclass(frozen=True)
class References:
    """The active reference faces, one row each."""

    ids: tuple[int, ...] = ()
    persons: tuple[str, ...] = ()
    matrix: np.ndarray = field(default_factory=lambda: np.zeros((0, 128)))
    # True for a reference the daemon took itself (auto_reference): it counts only within
    # the sure distance, never as support in the band (see _verdict). Empty: none is.
    auto: tuple[bool, ...] = ()
    # Negative examples: negative_matrix row i is a face a person said is not
    # negative_persons[i] (facewatchctl not); negative_ids[i] names it.
    negative_ids: tuple[int, ...] = ()
    negative_persons: tuple[str, ...] = ()
    negative_matrix: np.ndarray = field(default_factory=lambda: np.zeros((0, 128)))

    def __len__(self) -> int:
        return len(self.ids)

    @cached_property
    def is_auto(self) -> np.ndarray:
        return np.array(self.auto, dtype=bool) if self.auto else np.zeros(len(self.ids), dtype=bool)

    def auto_count(self, person: str) -> int:
        return sum(1 for p, a in zip(self.persons, self.is_auto, strict=True) if a and p == person)

    @cached_property
    def names(self) -> list[str]:
        return sorted(set(self.persons))

    @cached_property
    def groups(self) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
        """Columns ordered by person (None: they already are), where each person's run
        starts in that order, and each column's person (an index into names).
        Computed once per set of references."""
        index = {name: i for i, name in enumerate(self.names)}
        column_person = np.array([index[p] for p in self.persons], dtype=np.int64)
        order = np.argsort(column_person, kind="stable")
        starts = np.flatnonzero(np.r_[True, np.diff(column_person[order]) != 0])
        return (None if np.all(np.diff(column_person) >= 0) else order), starts, column_person

    @cached_property
    def single(self) -> tuple[np.ndarray, np.ndarray]:
        """The matrix in float32 and its rows' squared norms: half the memory to stream
        per face (100,000 references are 51 MB), distances still exact to ~1e-6."""
        matrix = np.ascontiguousarray(self.matrix, dtype=np.float32)
        return matrix, (matrix * matrix).sum(1)


@dataclass(frozen=True)
class FaceVerdict:
    """One face: its nearest person, how sure that is, and why."""

    face: int  # index into FaceReport.faces
    person: str | None  # nearest known person, if any reference exists
    distance: float | None  # to that person's nearest reference
    reference: int | None  # id of that reference
    tolerance: float | None  # the tolerance that applied to that person
    matched: bool  # counts as that person
    band: Band = Band.UNKNOWN
    support: int = 0  # how many of the person's references are within tolerance
    references: int = 0  # how many references the person has
    margin: float | None = None  # how much further the next person is
    runner_up: str | None = None  # that next person
    why: str = ""  # the rule that applied, in words
    # The negative example of `person` this face is as near as to them: it is not
    # matched, and never offered as them (see _vetoed).
    negative: int | None = None


@dataclass(frozen=True)
class Decision:
    outcome: Outcome  # sorted, review or failed
    reason: Reason  # matched, no_face, unknown_face, uncertain, several_people, unreadable
    rule: str  # the rule that decided, in words
    persons: tuple[str, ...] = ()  # destinations, best match first
    faces: tuple[FaceVerdict, ...] = ()


@dataclass(frozen=True)
class Policy:
    """How sure a match must be. Defaults and their evidence: docs/recognition.md."""

    tolerance_for: Callable[[str], float]  # beyond this, a face is not the person
    multi_person: Literal["all", "first", "review"] = "all"
    sure: float = 0.5  # at or below this a match needs nothing more
    min_support: int = 2  # between sure and tolerance: references within support_tolerance needed
    min_margin: float = 0.05  # ...and the next person must be this much further
    # Support is counted within this distance (None: the person's tolerance).
    support_tolerance: float | None = None
    # A face smaller than this (px, as the encoder saw it) is never matched in the band
    # between sure and tolerance: its encoding says too little. 0: no such rule.
    min_band_face: float = 0.0


def decide(report: FaceReport, references: References, policy: Policy) -> Decision:
    """Decide where the file of `report` goes. Cost: one F×N distance matrix."""
    if report.failed:
        return Decision(Outcome.FAILED, Reason.UNREADABLE, f"the file could not be analysed: {report.error}")
    if not report.faces:
        return Decision(Outcome.REVIEW, Reason.NO_FACE, "no face was found")
    verdicts = _verdicts(report, references, policy)
    best: dict[str, float] = {}
    for v in verdicts:
        if v.matched and v.person is not None and v.distance is not None \
                and v.distance < best.get(v.person, np.inf):
            best[v.person] = v.distance
    persons = tuple(sorted(best, key=best.__getitem__))
    if not persons and all(f.score < 0 for f in report.faces):
        # Only a weak detection (engine/faces.py), and it is nobody known: most likely no face.
        return Decision(Outcome.REVIEW, Reason.NO_FACE, "no face was found (" + "; ".join(
            f"a weak detection, score {report.faces[v.face].score:.2f}: {v.why}" for v in verdicts) + ")",
            faces=verdicts)
    if not persons:
        unsure = [v for v in verdicts if v.band == Band.UNCERTAIN]
        if unsure:
            return Decision(Outcome.REVIEW, Reason.UNCERTAIN, "; ".join(
                f"maybe {v.person}: {v.why}" for v in unsure), faces=verdicts)
        return Decision(Outcome.REVIEW, Reason.UNKNOWN_FACE,
                        f"none of the {len(verdicts)} faces is within tolerance of a known person",
                        faces=verdicts)
    if len(persons) > 1 and policy.multi_person == "review":
        return Decision(Outcome.REVIEW, Reason.SEVERAL_PEOPLE,
                        f"several known people ({', '.join(persons)}) and multi_person = review",
                        faces=verdicts)
    if policy.multi_person == "first":
        persons = persons[:1]
    rule = "; ".join(next(f"{p}: {v.why}" for v in verdicts if v.matched and v.person == p
                          and v.distance == best[p]) for p in persons)
    return Decision(Outcome.SORTED, Reason.MATCHED, rule, persons, verdicts)


def _verdicts(report: FaceReport, references: References, policy: Policy) -> tuple[FaceVerdict, ...]:
    if not len(references):
        return tuple(FaceVerdict(i, None, None, None, None, False, why="no references yet")
                     for i in range(len(report.faces)))
    names = references.names
    order, starts, column_person = references.groups
    matrix, squared_norms = references.single
    faces = np.stack([f.encoding for f in report.faces]).astype(np.float32)
    distances = distance_matrix(faces, matrix, squared_norms)
    by_person = distances if order is None else distances[:, order]
    # Each face's nearest reference of each person: F×P.
    per_person = np.minimum.reduceat(by_person, starts, axis=1)
    runs = _Runs(names, starts, np.r_[starts[1:], distances.shape[1]],
                 np.arange(distances.shape[1]) if order is None else order)
    verdicts = [_verdict(_Seen(i, by_person[i], per_person[i], report.faces[i].side), runs,
                         references, policy) for i in range(len(distances))]
    if references.negative_ids:
        verdicts = _vetoed(faces, verdicts, references)
    return tuple(_across_frames(report, verdicts))


def _vetoed(faces: np.ndarray, verdicts: list[FaceVerdict], references: References) -> list[FaceVerdict]:
    """"Not this person": a face at least as near to a negative example of its nearest
    person as to that person's nearest reference, and within their tolerance of it, is
    not matched: it goes to review, for a person to say. A photo of them nearer their
    references than the stranger once taken for them still matches."""
    near = distance_matrix(faces, references.negative_matrix.astype(np.float32))
    out = []
    for v, row in zip(verdicts, near, strict=True):
        mine = [(float(d), i) for i, (d, p) in enumerate(zip(row, references.negative_persons, strict=True))
                if p == v.person]
        if v.distance is None or v.tolerance is None or not mine:
            out.append(v)
            continue
        d, i = min(mine)
        if d <= v.tolerance and d <= v.distance:
            v = replace(v, matched=False, band=Band.UNCERTAIN if v.matched else v.band,
                        negative=references.negative_ids[i],
                        why=f"{v.why}; but as near ({d:.3f}) to negative example"
                            f" {references.negative_ids[i]}, a face said not to be {v.person}")
        out.append(v)
    return out


@dataclass(frozen=True)
class _Runs:
    """How the references are laid out by person: person p's are the columns
    starts[p]:ends[p] of a face's distances in person order, which are the references'
    own columns `columns` there."""

    names: list[str]
    starts: np.ndarray
    ends: np.ndarray
    columns: np.ndarray


@dataclass(frozen=True)
class _Seen:
    """One face: its distance to every reference (in person order) and to each person's
    nearest, and its size as the encoder saw it."""

    face: int
    by_person: np.ndarray
    per_person: np.ndarray
    side: float


def _verdict(seen: _Seen, runs: _Runs, references: References, policy: Policy) -> FaceVerdict:
    ranked = np.argsort(seen.per_person)
    p = ranked[0]
    person = runs.names[p]
    span = slice(runs.starts[p], runs.ends[p])
    own = seen.by_person[span]  # this face's distances to each of p's references
    auto = references.is_auto[runs.columns[span]]
    tolerance = policy.tolerance_for(person)
    support_tolerance = tolerance if policy.support_tolerance is None else policy.support_tolerance
    runner_up = runs.names[ranked[1]] if len(ranked) > 1 else None
    margin = round(float(seen.per_person[ranked[1]] - seen.per_person[p]), 4) if runner_up else None
    sure = min(policy.sure, tolerance)
    # Automatic references count only within the sure distance: the nearest of 20
    # references is nearer by chance than the nearest of 3, for strangers too, and the
    # band was set for the references a person gave (tests/eval/tune.py --stream).
    given = own[~auto]
    best_given = int(np.argmin(np.where(auto, np.inf, own))) if len(given) else None
    best_auto = int(np.argmin(np.where(auto, own, np.inf))) if auto.any() else None
    via_auto = best_auto is not None and own[best_auto] <= sure and (
        best_given is None or own[best_auto] < own[best_given])
    pick = best_auto if via_auto or best_given is None else best_given
    assert pick is not None  # a person has at least one reference
    distance = float(own[pick])
    nearest = runs.columns[runs.starts[p] + pick]
    support = int((given <= support_tolerance).sum())
    refs = len(given)
    needed = min(policy.min_support, refs)
    at = f"distance {distance:.3f}" + (" to an automatic reference" if via_auto else "")
    if distance > tolerance or (best_given is None and distance > sure):
        band, why = Band.UNKNOWN, f"{at}, beyond the tolerance {tolerance}"
    elif distance <= sure:
        band, why = Band.SURE, f"{at}, within the sure distance {sure}"
    elif support < needed:
        band, why = Band.UNCERTAIN, (f"{at}, but only {support} of {refs} references of {person} "
                                  f"within {support_tolerance} ({needed} needed beyond {policy.sure})")
    elif margin is not None and margin < policy.min_margin:
        band, why = Band.UNCERTAIN, (f"{at}, but {runner_up} is nearly as close "
                                  f"(+{margin:.3f}, {policy.min_margin} needed)")
    elif 0 < seen.side < policy.min_band_face:
        band, why = Band.UNCERTAIN, (f"{at}, but the face is only {seen.side:.0f} px "
                                  f"({policy.min_band_face:.0f} needed beyond {policy.sure})")
    else:
        band, why = Band.SUPPORTED, (f"{at}, {support} of {refs} references within {support_tolerance}, "
                                  f"next person {runner_up or 'none'} "
                                  f"{'' if margin is None else f'+{margin:.3f}'} further")
    return FaceVerdict(seen.face, person, round(distance, 4), references.ids[nearest], tolerance,
                       band in (Band.SURE, Band.SUPPORTED), band, support, refs, margin, runner_up, why)


def _across_frames(report: FaceReport, verdicts: list[FaceVerdict]) -> list[FaceVerdict]:
    """In a video, a person matched only beyond the sure distance must be seen in two
    frames: one blurry frame that looks like someone is not enough."""
    if report.kind != "video":
        return verdicts
    frames: dict[str | None, set[float | None]] = {}
    sure = set()
    for v in verdicts:
        if v.matched:
            frames.setdefault(v.person, set()).add(report.faces[v.face].time)
            if v.band == Band.SURE:
                sure.add(v.person)
    return [replace(v, matched=False, band=Band.UNCERTAIN,
                    why=f"{v.why}; seen in only one frame of the video")
            if v.matched and v.person not in sure and len(frames[v.person]) < 2 else v
            for v in verdicts]


def distance_matrix(a: np.ndarray, b: np.ndarray, b_squared: np.ndarray | None = None) -> np.ndarray:
    """Euclidean distances between the rows of `a` (F×128) and `b` (N×128): F×N.
    `b_squared`, the rows' squared norms, saves a pass over `b` when it is reused."""
    if b_squared is None:
        b_squared = (b * b).sum(1)
    squared = (a * a).sum(1)[:, None] + b_squared[None, :] - 2.0 * (a @ b.T)
    distances: np.ndarray = np.sqrt(np.maximum(squared, 0.0))
    return distances


def evidence(report: FaceReport, decision: Decision) -> dict[str, Any]:
    """The record of a decision: each face, its nearest reference, the rule that decided."""
    verdicts = {v.face: v for v in decision.faces}
    faces = []
    for i, face in enumerate(report.faces):
        item: dict[str, Any] = {"box": list(face.box), "score": round(face.score, 3)}
        if face.time is not None:
            item["time"] = face.time
        if (v := verdicts.get(i)) is not None:
            item.update(person=v.person, distance=v.distance, reference=v.reference,
                        tolerance=v.tolerance, matched=v.matched, band=v.band, support=v.support,
                        references=v.references, margin=v.margin, runner_up=v.runner_up,
                        why=v.why)
            if v.negative is not None:
                item["negative"] = v.negative
        faces.append(item)
    evidence = {"kind": report.kind, "size": list(report.size), "orientation": report.orientation,
                "faces": faces,
                "rule": decision.rule, "seconds": round(report.seconds, 3)}
    if report.frame_times:
        evidence["frame_times"] = list(report.frame_times)
    if report.error:
        evidence["error"] = report.error
    return evidence
