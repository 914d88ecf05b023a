"""The known people and their reference faces."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ...errors import MediaError, NotFoundError, UsageError
from ...files.enroll import the_face
from ...files.items import valid_person_name
from ...files.people import People
from ...policy.decide import distance_matrix
from ...state import Quality
from ...steps import Analyse, Step
from ...vocabulary import Origin
from .base import Context, handles


@handles("persons")
def persons(ctx: Context) -> list[dict[str, Any]]:
    """Each person, with the tolerance that applies to them and whether the configuration
    sets it for them ([persons.NAME] tolerance) or it is [recognition]'s."""
    config = ctx.service.config
    return [{**p, "tolerance": config.tolerance_for(p["name"]),
             "tolerance_set": getattr(config.persons.get(p["name"]), "tolerance", None) is not None}
            for p in ctx.service.store.persons()]


@handles("references")
def references(ctx: Context, person: str | None = None) -> list[dict[str, Any]]:
    """Each reference with what the audit needs: how the encoder saw it (score, side,
    sharpness, where recorded), when it came, and how far it is from its person's other
    references in use (the median; `far` when beyond the support distance)."""
    store = ctx.service.store
    rows = [r for r in store.references() if person is None or r.person == person]
    if person is not None and not rows:
        raise NotFoundError(f"no references of {person!r}")
    encodings = store.reference_encodings([r.id for r in rows]) if rows else {}
    far = ctx.service.config.recognition.support_tolerance
    refs = []
    for r in rows:
        others = [o.id for o in rows if o.person == r.person and o.active and o.id != r.id]
        spread = None
        if others:
            d = distance_matrix(encodings[r.id][None, :], np.stack([encodings[o] for o in others]))
            spread = round(float(np.median(d)), 4)
        refs.append({**dataclasses.asdict(r), "side": r.side or _side(r.box), "spread": spread,
                     "far": spread is not None and len(others) >= 2 and spread > far})
    return refs


def _side(box: tuple[int, int, int, int]) -> float:
    """A face box's smaller side, px of the photo (where the encoder's was not recorded)."""
    top, right, bottom, left = box
    return float(min(right - left, bottom - top))


@handles("reference.disable")
def disable(ctx: Context, id: int) -> Step:
    return _set_active(ctx, id, False)


@handles("reference.enable")
def enable(ctx: Context, id: int) -> Step:
    return _set_active(ctx, id, True)


def _set_active(ctx: Context, ref_id: int, active: bool) -> Step:
    if not ctx.service.store.set_reference_active(ref_id, active):
        raise NotFoundError(f"no reference {ref_id}")
    filed = yield from ctx.service.references_changed()
    ref = ctx.service.store.reference(ref_id)
    assert ref is not None
    # Without it, what it brought in may no longer hold: for a person to look at.
    check = [] if active else People(ctx.service.sorter).check([ref.person])
    return {"id": ref_id, "active": active, "filed": filed, "check": check}


@handles("import-regions")
def import_regions(ctx: Context, references: list[dict[str, Any]]) -> Step:
    """References of faces other photo tools named: facewatchctl found and encoded them
    (control/regions.py); here they are checked, kept (origin "imported"), and the queue
    is checked again."""
    store = ctx.service.store
    known = {(r.person, r.sha256, r.box) for r in store.references()}
    results = []
    for ref in references:
        person, file, sha256 = ref.get("person"), ref.get("file"), ref.get("sha256")
        box: Any = ref.get("box")
        encoding: Any = ref.get("encoding")
        if not (isinstance(person, str) and isinstance(file, str) and isinstance(sha256, str)
                and len(sha256) == 64 and _numbers(box, 4, int) and _numbers(encoding, 128, float)):
            raise UsageError("each reference is {person, file, sha256, box: 4 integers, encoding: 128 numbers}")
        valid_person_name(person)
        if (person, sha256, tuple(box)) in known:
            results.append({"file": file, "person": person, "ok": True, "already": True})  # as asked
            continue
        added = store.add_reference(person, Origin.IMPORTED, file, sha256, tuple(box), np.array(encoding))
        known.add((person, sha256, tuple(box)))
        results.append({"file": file, "person": person, "ok": True, "id": added})
    filed = (yield from ctx.service.references_changed()) if any(r["ok"] for r in results) else []
    return {"results": results, "filed": filed}


def _numbers(value: Any, count: int, kind: type) -> bool:
    return (isinstance(value, list) and len(value) == count
            and all(isinstance(v, (int, kind)) and not isinstance(v, bool) for v in value))


@handles("enroll")
def enroll(ctx: Context, person: str, files: list[str]) -> Step:
    valid_person_name(person)  # checked now, with the files, for the peer asking now
    return _enroll(ctx, person, list(dict.fromkeys(ctx.readable(f) for f in files)))


def _enroll(ctx: Context, person: str, paths: list[str]) -> Step:
    reports = yield Analyse(tuple(paths))
    store = ctx.service.store
    results = []
    for report in reports:
        face, why = the_face(report)
        known = [r for r in store.references() if (r.person, r.sha256) == (person, report.sha256)]
        if known:
            ref = known[0]
            why = f"already reference {ref.id}" + ("" if ref.active else (
                f", disabled: `facewatchctl reference enable {ref.id}` uses it again"))
            results.append({"file": report.path, "added": False, "why": why})
        elif face is None:
            results.append({"file": report.path, "added": False, "why": why})
        else:
            added = store.add_reference(person, Origin.CTL, report.path, report.sha256,
                                        face.box, face.encoding, Quality.of(face))
            results.append({"file": report.path, "added": True, "id": added})
    unusable = [r for r in results if not r["added"] and not r["why"].startswith("already")]
    if len(unusable) == len(results):  # not one photo taught anything: say so, as an error
        raise MediaError(f"no reference of {person} was added; not used: "
                         + "; ".join(f"{r['file']}: {r['why']}" for r in unusable))
    filed = yield from ctx.service.references_changed()
    return {"person": person, "files": results, "filed": filed}
