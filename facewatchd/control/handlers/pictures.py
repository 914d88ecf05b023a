"""Files for the review page to show: an item's photo or video, and the photo behind a
face of an item or behind a reference, each passed as an open descriptor
(protocol.Descriptor) with what the page needs to cut the face out of it.

Chosen by id only, opened by the daemon (which may read its folders) and checked to be
a regular file inside them with the ledger's size or the reference's content: a client
never names a path. The daemon's loop only opens files here; decoding is the client's.
"""

from __future__ import annotations

import os
from pathlib import Path

from ...errors import NotFoundError
from ...files.items import Item
from ...vocabulary import Origin
from ..protocol import Descriptor
from .base import Context, handles


def _item(ctx: Context, item_id: int) -> Item:
    found = ctx.review.find(item_id)
    if found is None:
        raise NotFoundError(f"no item {item_id} in review or its trash")
    return found


def _open(ctx: Context, item: Item) -> int:
    fd = ctx.open_ours(item.path, size=item.entry.size, within=item.review)  # a former review folder too
    if fd is None:
        raise NotFoundError(f"item {item.id}: its file is not where the ledger put it, or has changed")
    return fd


@handles("review.file")
def file(ctx: Context, id: int) -> Descriptor:
    item = _item(ctx, id)
    return Descriptor({"id": id, "name": item.path.name, "size": item.entry.size,
                       "kind": item.entry.evidence.get("kind", "image")}, _open(ctx, item))


@handles("review.face")
def face(ctx: Context, id: int, face: int) -> Descriptor:
    item = _item(ctx, id)
    if not 1 <= face <= len(item.faces):
        raise NotFoundError(f"item {id} has no face {face}")
    chosen = item.faces[face - 1]
    sha256 = item.entry.sha256
    return Descriptor({"id": id, "face": face, "box": list(chosen.box), "time": chosen.time,
                       "thumbnail_time": ctx.service.store.thumbnail_times([sha256]).get(sha256),
                       "kind": item.entry.evidence.get("kind", "image"),
                       "size": item.entry.evidence.get("size"), "name": item.path.name},
                      _open(ctx, item))


@handles("reference.face")
def reference_face(ctx: Context, id: int) -> Descriptor:
    """A reference's box, and the photo it came from: the one in the references folder,
    or, for a reference taught from review, wherever the ledger says that content is
    now; checked by its hash to be that content."""
    store = ctx.service.store
    ref = store.reference(id)
    if ref is None:
        raise NotFoundError(f"no reference {id}")
    places = [ref.path] if ref.origin == Origin.FOLDER else []
    filed = store.sorted_before(ref.sha256)
    if filed is not None and filed.target is not None:
        places.append(filed.target)
    places.append(ref.path)
    for place in dict.fromkeys(places):
        fd = ctx.open_ours(Path(place), sha256=ref.sha256)
        if fd is not None:
            return Descriptor({"id": ref.id, "person": ref.person, "box": list(ref.box), "time": None,
                               "kind": "image", "size": None, "name": os.path.basename(place)}, fd)
    raise NotFoundError(f"the photo of reference {id} is no longer in facewatchd's folders")
