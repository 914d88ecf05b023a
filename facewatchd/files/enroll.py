"""Enrolling the references folder: one subfolder per person, their photos inside.

Photos already enrolled (same person, same content hash) are not analysed again, so
a restart costs one hash per reference photo. A photo that left the folder has its
reference deactivated; one that comes back is reactivated.
"""

from __future__ import annotations

import logging
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path

from ..engine.kinds import wanted
from ..engine.report import Face, FaceReport
from ..state import Quality, Store
from ..steps import Analyse
from ..vocabulary import Origin
from . import route, scan

log = logging.getLogger("facewatchd.enroll")

# In a reference photo with several faces, the largest is taken only if it is at
# least this many times the area of the next one; otherwise the photo is ambiguous.
DOMINANT_AREA_RATIO = 2.0


@dataclass
class EnrollSummary:
    persons: dict[str, int] = field(default_factory=dict)  # active references per person
    added: int = 0
    deactivated: int = 0
    skipped: list[str] = field(default_factory=list)  # "path: why"


def reference_photos(folder: Path) -> dict[Path, str]:
    """Every image under `folder`/PERSON/, mapped to PERSON."""
    photos = {}
    for person_dir in sorted(p for p in folder.iterdir() if p.is_dir() and wanted(p.name)):
        for path, kind in scan.walk(person_dir, recursive=True):
            if kind == "image":
                photos[path] = person_dir.name
    return photos


def enrol(folder: Path, store: Store, progress: route.Progress = route._nothing
          ) -> Generator[Analyse | None, list[FaceReport], EnrollSummary]:
    """Bring the store's folder references in line with `folder` (a task, see tasks.py):
    hash every photo there (a step each), analyse only those not enrolled yet."""
    photos = reference_photos(folder)
    hashes = {}
    for path in photos:
        hashes[path] = route.file_sha256(path, progress)
        yield None
    summary = EnrollSummary()
    known = {(r.person, r.sha256): r for r in store.references(origin=Origin.FOLDER)}
    wanted = {(photos[p], hashes[p]) for p in photos}
    with store.transaction():
        for key, ref in known.items():
            if ref.active and key not in wanted:
                store.set_reference_active(ref.id, False)
                summary.deactivated += 1
            elif not ref.active and key in wanted:
                store.set_reference_active(ref.id, True)
    todo = [p for p in photos if (photos[p], hashes[p]) not in known]
    reports = yield Analyse(tuple(str(p) for p in todo))
    for path, report in zip(todo, reports, strict=True):
        face, why = the_face(report)
        if face is None:
            summary.skipped.append(f"{path}: {why}")
            log.warning("reference photo %s not used: %s", path, why,
                        extra={"FACEWATCH_PATH": str(path)})
        else:
            store.add_reference(photos[path], Origin.FOLDER, str(path), report.sha256, face.box,
                                face.encoding, Quality.of(face))
            summary.added += 1
    summary.persons = store.reference_counts()
    return summary


def the_face(report: FaceReport) -> tuple[Face | None, str]:
    """The one face a reference photo shows, or None and why not."""
    if report.failed:
        return None, report.error or "unreadable"
    if not report.faces:
        return None, "no face found"
    by_area = sorted(report.faces, key=_area, reverse=True)
    if len(by_area) > 1 and _area(by_area[0]) < DOMINANT_AREA_RATIO * _area(by_area[1]):
        return None, f"{len(by_area)} faces of similar size; crop it to the person"
    return by_area[0], ""


def _area(face: Face) -> int:
    top, right, bottom, left = face.box
    return (bottom - top) * (right - left)
