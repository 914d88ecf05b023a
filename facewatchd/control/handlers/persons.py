"""What a person says of someone: "not them", their filed photos, a new name, and the
filed photos the references now place elsewhere."""

from __future__ import annotations

import base64
import dataclasses
import os
from typing import Any

from ...errors import MediaError, NotFoundError, RefusedError, UsageError
from ...files.people import People
from ...state import LedgerEntry, StoredFace
from ...steps import Analyse, Step
from ...vocabulary import Outcome
from .base import Context, handles, with_entries
from .queue import MAX_PAGE, MAX_THUMBNAILS


def _people(ctx: Context) -> People:
    return People(ctx.service.sorter)


@handles("not")
def not_person(ctx: Context, person: str, path: str | None = None, item: int | None = None,
               face: int | None = None) -> Step:
    if (path is None) == (item is None):
        raise UsageError("say which file: its path, or a review item's id")
    store = ctx.service.store
    if item is not None:
        found = ctx.review.find(item)
        if found is None:
            raise NotFoundError(f"no item {item} in review")
        entry, faces = found.entry, list(found.faces)
    else:
        assert path is not None
        now = store.current_at(os.path.normpath(ctx.readable(path)))
        if now is None:
            raise NotFoundError(f"the ledger has no file at {path}")
        entry = now
        faces = yield from _faces(ctx, entry)
    result = _people(ctx).not_person(entry, faces, person, face)
    if item is not None:
        result["id"] = item
    result["check"] = _people(ctx).check([person])
    return with_entries(ctx, [result])[0] if result.get("moved") else result


def _faces(ctx: Context, entry: LedgerEntry) -> Step:
    """The stored faces of a filed file; one filed before they were kept is analysed again."""
    store = ctx.service.store
    faces = store.faces_of([entry.sha256])[entry.sha256]
    if faces or not entry.evidence.get("faces"):
        return faces
    (report,) = yield Analyse((str(entry.path),))
    if report.failed:
        raise MediaError(f"{entry.path}: {report.error}")
    if report.sha256 != entry.sha256:
        raise RefusedError(f"{entry.path} is not the file the ledger put there any more")
    store.save_faces(report.sha256, [(f.box, f.score, f.time, f.encoding, f.side, f.sharpness)
                                     for f in report.faces], report.thumbnail, report.thumbnail_time)
    stored: list[StoredFace] = store.faces_of([entry.sha256])[entry.sha256]
    return stored


@handles("negatives")
def negatives(ctx: Context, person: str | None = None) -> list[dict[str, Any]]:
    return [dataclasses.asdict(n) for n in ctx.service.store.negatives(person)]


@handles("negative.disable")
def negative_disable(ctx: Context, id: int) -> Step:
    if not ctx.service.store.set_negative_active(id, False):
        raise NotFoundError(f"no negative example {id}")
    filed = yield from ctx.service.references_changed()
    return {"id": id, "active": False, "filed": filed}


@handles("person.files")
def files(ctx: Context, person: str, limit: int | None = None, offset: int = 0) -> dict[str, Any]:
    """A page of the files filed under `person` (at most MAX_PAGE), oldest first."""
    limit = MAX_PAGE if limit is None else min(limit, MAX_PAGE)
    if offset < 0 or limit < 0:
        raise UsageError("offset and limit cannot be negative")
    people = _people(ctx)
    entries = people.files(person)
    if not entries and person not in {p["name"] for p in ctx.service.store.persons()}:
        raise NotFoundError(f"no person {person!r}")
    shown = entries[offset:offset + limit]
    stored = ctx.service.store.faces_of([e.sha256 for e in shown])
    return {"items": [people.as_dict(e, person, stored[e.sha256]) for e in shown],
            "total": len(entries), "offset": offset}


@handles("person.thumbnails")
def thumbnails(ctx: Context, ids: list[int]) -> dict[str, Any]:
    """Entry id → {"jpeg": base64, "time"}, for files filed under someone now."""
    if len(ids) > MAX_THUMBNAILS:
        raise UsageError(f"at most {MAX_THUMBNAILS} thumbnails at a time")
    found = {}
    for entry_id in dict.fromkeys(ids):
        entry = ctx.service.store.entry(entry_id)
        if entry is None or not entry.current or entry.outcome != Outcome.SORTED:
            continue
        thumbnail = ctx.service.store.thumbnail(entry.sha256)
        if thumbnail is not None:
            found[str(entry_id)] = {"jpeg": base64.b64encode(thumbnail[0]).decode(), "time": thumbnail[1]}
    return found


@handles("person.rename")
def rename(ctx: Context, old: str, new: str) -> Step:
    return _rename(ctx, old, new, merge=False)


@handles("person.merge")
def merge(ctx: Context, old: str, new: str) -> Step:
    return _rename(ctx, old, new, merge=True)


def _rename(ctx: Context, old: str, new: str, *, merge: bool) -> Step:
    result = _people(ctx).rename(old, new, merge=merge)
    with_entries(ctx, result["files"])
    # Named anew, their references may now match review items that were nobody's.
    result["filed"] = with_entries(ctx, (yield from ctx.service.references_changed()))
    return result


@handles("check")
def check(ctx: Context, person: str | None = None) -> list[dict[str, Any]]:
    return _people(ctx).check(None if person is None else [person])
