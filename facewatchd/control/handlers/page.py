"""The queue as the review page shows it: a page of items with their face boxes and
suggestions, and what the page needs of the whole queue at once (every matching id,
for "select all"; the "maybe NAME" groups, whichever page their items are on)."""

from __future__ import annotations

from typing import Any

from ...files.items import Item
from ...steps import Step
from .base import Context, handles
from .queue import face_boxes, page_limit


@handles("review.page")
def page(ctx: Context, reason: str | None = None, person: str | None = None,
         limit: int | None = None, offset: int = 0, order: str = "oldest",
         deleted: bool = False) -> Step:
    """Long work the first time after the queue's rows or the references changed: every
    item is decided (ReviewQueue.prepare, a step every hundred), then remembered."""
    return _page(ctx, reason, person, page_limit(limit, offset), offset, order, deleted)


def _page(ctx: Context, reason: str | None, person: str | None, limit: int, offset: int,
          order: str, deleted: bool) -> Step:
    review = ctx.review
    yield from review.prepare(deleted, order)
    items = review.listing(reason=reason, person=person, deleted=deleted, order=order)
    shown = items[offset:offset + limit]
    times = ctx.service.store.thumbnail_times([item.entry.sha256 for item in shown])
    ids, groups = review.remembered(deleted, ("page", reason, person, order),
                                    lambda: (_ids(items), _groups(ctx, items)))
    return {"items": [{**item.as_dict(), "size": item.entry.evidence.get("size"),
                       "face_boxes": face_boxes(item), "suggestion": review.suggestion(item),
                       "hint": review.hint(item),
                       "thumbnail": item.entry.sha256 in times,
                       "thumbnail_time": times.get(item.entry.sha256)} for item in shown],
            "total": len(items), "offset": offset, "ids": ids, "groups": groups}


def _ids(items: list[Item]) -> list[int]:
    return [item.id for item in items]


def _groups(ctx: Context, items: list[Item]) -> list[dict[str, Any]]:
    """The "maybe NAME" groups among `items`, whichever page they are on: nearest first."""
    groups: dict[str, dict[str, Any]] = {}
    for item in items:
        suggestion = ctx.review.suggestion(item)
        if suggestion is not None:
            group = groups.setdefault(suggestion["person"], {
                "person": suggestion["person"], "count": 0, "best": suggestion["distance"], "items": []})
            group["count"] += 1
            group["best"] = min(group["best"], suggestion["distance"])
            group["items"].append({"id": item.id, "face": suggestion["face"]})
    return sorted(groups.values(), key=lambda g: (g["best"], g["person"]))
