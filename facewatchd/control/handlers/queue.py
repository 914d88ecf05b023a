"""The review queue: listing it, and what a person decides about its items."""

from __future__ import annotations

import base64
from collections.abc import Callable, Generator
from typing import Any

import numpy as np

from ...engine.report import parse_box
from ...errors import NotFoundError, RefusedError, RouteError, UsageError
from ...files.items import Item, valid_person_name
from ...steps import Step
from ...vocabulary import REVIEW_OUTCOMES, Band
from .base import Context, Selection, handles, with_entries
from .clusters import find_cluster

MAX_PAGE = 1000  # items of a listing in one answer; facewatchctl fetches the pages in turn
MAX_THUMBNAILS = 100  # in one answer


@handles("review.list")
def listing(ctx: Context, reason: str | None = None, person: str | None = None,
            limit: int | None = None, offset: int = 0, order: str = "oldest",
            deleted: bool = False) -> Step:
    """A page of the items (at most MAX_PAGE), and how many there are in all. Long work
    where the order or a person needs every item decided (ReviewQueue.prepare)."""
    limit = page_limit(limit, offset)
    return _listing(ctx, reason, person, limit, offset, order, deleted)


def page_limit(limit: int | None, offset: int, most: int = MAX_PAGE) -> int:
    """The items of one page: as asked, at most `most`."""
    if offset < 0 or (limit is not None and limit < 0):
        raise UsageError("offset and limit cannot be negative")
    return most if limit is None else min(limit, most)


def _listing(ctx: Context, reason: str | None, person: str | None, limit: int, offset: int,
             order: str, deleted: bool) -> Step:
    if person is not None or order != "oldest":
        yield from ctx.review.prepare(deleted, order)
    items, total = ctx.review.page(reason=reason, person=person, limit=limit, offset=offset,
                                   deleted=deleted, order=order)
    return {"items": [item.as_dict() for item in items], "total": total, "offset": offset}


def each(ctx: Context, selection: Selection, action: Callable[..., dict[str, Any]], *,
         deleted: bool = False, **kwargs: Any) -> Generator[None, None, list[dict[str, Any]]]:
    """Run `action` on each selected item, a step each; one result per item, failures
    included."""
    results = []
    for item in ctx.review.select(selection.ids, selection.all, deleted=deleted,
                                  reason=selection.reason, person=selection.nearest,
                                  limit=selection.limit):
        if isinstance(item, tuple):
            results.append({"id": item[0], "ok": False, "error": item[1]})
            continue
        try:
            results.extend(with_entries(ctx, [action(item, **kwargs)]))
        except (RefusedError, RouteError) as e:
            results.append({"id": item.id, "ok": False, "error": str(e)})
        yield
    return results


@handles("review.keep")
def keep(ctx: Context, selection: Selection, person: str | None = None, to: str | None = None,
         new_person: bool = False) -> Step:
    if (person is None) == (to is None):
        raise UsageError("say where to: --person NAME or --to DIR")
    if person is not None and not new_person and not _known(ctx, person):
        known = ", ".join(p["name"] for p in ctx.service.store.persons()) or "nobody yet"
        raise UsageError(f"{person!r} is not a known person (known: {known}); "
                         f"to file it under someone new, add --new-person")
    return _results(each(ctx, selection, ctx.review.keep, person=person, to=to))


def _known(ctx: Context, person: str) -> bool:
    """Someone with references, settings, or a folder already."""
    config = ctx.service.config
    return (person in config.persons or any(p["name"] == person for p in ctx.service.store.persons())
            or any(w.destination_for(person).is_dir() for w in config.watches))


def _results(steps: Generator[None, None, list[dict[str, Any]]]) -> Step:
    return {"results": (yield from steps)}


@handles("review.add-reference")
def teach(ctx: Context, selection: Selection, person: str, face: int | None = None) -> Step:
    valid_person_name(person)
    return _teach(ctx, selection, person, face)


def _teach(ctx: Context, selection: Selection, person: str, face: int | None) -> Step:
    results = yield from each(ctx, selection, ctx.review.teach, person=person, face=face)
    filed = (yield from ctx.service.references_changed()) if any(r["ok"] for r in results) else []
    with_entries(ctx, filed)  # the re-checks this caused: undone with it
    return {"results": results, "filed": filed}


@handles("review.delete")
def delete(ctx: Context, selection: Selection) -> Step:
    return _results(each(ctx, selection, ctx.review.delete))


@handles("review.restore")
def restore(ctx: Context, selection: Selection) -> Step:
    return _results(each(ctx, selection, ctx.review.restore, deleted=True))


@handles("review.sheet")
def sheet(ctx: Context, cluster: str | None = None, reason: str | None = None,
          limit: int | None = None, offset: int = 0) -> Step:
    """A page of the items with their faces (at most MAX_PAGE), for a contact sheet;
    thumbnails come separately. Of a cluster: long work, as `clusters`."""
    return _sheet(ctx, cluster, reason, page_limit(limit, offset), offset)


def _sheet(ctx: Context, cluster: str | None, reason: str | None, limit: int, offset: int) -> Step:
    marked: dict[int, set[int]] = {}
    if cluster is None:
        items, total = ctx.review.page(reason=reason, limit=limit, offset=offset)
    else:
        found = yield from find_cluster(ctx, cluster)
        marked = {i: {f.index for it, f in found.faces if it.id == i} for i in found.items}
        matching = [item for item in ctx.review.items(ids=found.items)
                    if reason is None or item.reason == reason]
        items, total = matching[offset:offset + limit], len(matching)
    return {"items": [{**item.as_dict(), "size": item.entry.evidence.get("size"),
                       "face_boxes": face_boxes(item, marked.get(item.id, set()))} for item in items],
            "total": total, "offset": offset}


def face_boxes(item: Item, in_cluster: set[int] | frozenset[int] = frozenset()) -> list[dict[str, Any]]:
    """Each face of an item: its number, box and video time, and what the references in
    use now say of it (nearest person, distance, band, the rule in words)."""
    verdicts = {v.face: v for v in item.decision.faces}
    faces = []
    for face in item.faces:
        v = verdicts.get(face.index)
        faces.append({"n": face.index + 1, "box": list(face.box), "time": face.time,
                      "person": v and v.person, "distance": v and v.distance,
                      "matched": bool(v and v.matched), "cluster": face.index in in_cluster,
                      "band": v.band if v else Band.UNKNOWN, "why": v.why if v else ""})
    return faces


@handles("review.thumbnails")
def thumbnails(ctx: Context, ids: list[int]) -> dict[str, Any]:
    """Item id → {"jpeg": base64, "time": seconds into a video or None}."""
    if len(ids) > MAX_THUMBNAILS:
        raise UsageError(f"at most {MAX_THUMBNAILS} thumbnails at a time")
    found = {}
    for item in ctx.review.items(ids=ids) + ctx.review.items(ids=ids, deleted=True):
        thumbnail = ctx.service.store.thumbnail(item.entry.sha256)
        if thumbnail is not None:
            found[str(item.id)] = {"jpeg": base64.b64encode(thumbnail[0]).decode(),
                                   "time": thumbnail[1]}
    return found


@handles("review.add-face")
def add_face(ctx: Context, id: int, box: str, person: str, encoding: list[float]) -> Step:
    item = ctx.review.find(id)
    if item is None or item.entry.outcome not in REVIEW_OUTCOMES:
        raise NotFoundError(f"no item {id} in review")
    if len(encoding) != 128:
        raise UsageError("the encoding is 128 numbers")
    result = ctx.review.add_face(item, person, parse_box(box), np.array(encoding, dtype=float))
    filed = yield from ctx.service.references_changed()
    return {"results": with_entries(ctx, [result]), "filed": with_entries(ctx, filed)}
