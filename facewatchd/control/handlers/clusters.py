"""Unknown faces that look like one person: listing, naming, ignoring."""

from __future__ import annotations

from collections.abc import Generator

from ...errors import Code, FacewatchError, NotFoundError, UsageError
from ...files.clusters import Cluster, cluster_number, grouped
from ...files.items import valid_person_name
from ...state import Quality
from ...steps import Step
from ...vocabulary import Origin
from .base import Context, handles, with_entries

MAX_PAGE = 1000  # clusters in one answer; facewatchctl and the page fetch the pages in turn


def _clusters(ctx: Context) -> Generator[None, None, list[Cluster]]:
    """Long work: the queue's clusters, remembered between requests (files/clusters.py)."""
    review = ctx.service.config.review
    return (yield from grouped(ctx.review, review.cluster_distance, review.cluster_min_size,
                               ctx.service.store.ignored_faces()))


def find_cluster(ctx: Context, name: str) -> Generator[None, None, Cluster]:
    number = cluster_number(name)
    for cluster in (yield from _clusters(ctx)):
        if cluster.id == number:
            return cluster
    raise NotFoundError(f"no cluster {name} (run `clusters` again: the queue has changed)")


@handles("clusters")
def listing(ctx: Context, limit: int | None = None, offset: int = 0) -> Step:
    """A page of the clusters (at most MAX_PAGE), largest first, and how many there are."""
    limit = MAX_PAGE if limit is None else min(limit, MAX_PAGE)
    if offset < 0 or limit < 0:
        raise UsageError("offset and limit cannot be negative")
    return _page(ctx, limit, offset)


def _page(ctx: Context, limit: int, offset: int) -> Step:
    found = yield from _clusters(ctx)
    return {"items": [cluster.as_dict() for cluster in found[offset:offset + limit]],
            "total": len(found), "offset": offset}


@handles("clusters.name")
def name(ctx: Context, id: str, person: str, exclude: list[int] | None = None,
         faces: list[int] | None = None) -> Step:
    """Name a cluster, but for the faces taken out of it (`exclude`): taking a face out
    keeps no state, so it may join a cluster again later, where it may belong.

    `faces` are the cluster's faces as the asker was shown them. A cluster is found
    again by its id when the request comes, and its faces are grouped again then: new
    photos may have grown it, or joined it to another, so if they are not the faces
    shown, nothing is taught and the asker is told to look again."""
    valid_person_name(person)
    if faces is None:
        raise UsageError("say which faces are named: the cluster's faces as they were shown"
                         " (`faces`, as `clusters --json` lists them)")
    return _named(ctx, id, person, exclude, faces)


def _named(ctx: Context, id: str, person: str, exclude: list[int] | None, faces: list[int]) -> Step:
    cluster = yield from find_cluster(ctx, id)
    members = {face.id for _, face in cluster.faces}
    if set(faces) != members:
        new, gone = len(members - set(faces)), len(set(faces) - members)
        raise FacewatchError(
            f"cluster {cluster.name} has changed since it was shown: it has {len(members)} faces now"
            f" ({new} not shown{f', {gone} shown are no longer in it' if gone else ''}); nothing was"
            f" taught: look at it again", Code.CHANGED)
    strangers = set(exclude or ())
    if strangers - members:
        raise NotFoundError(f"faces {', '.join(map(str, sorted(strangers - members)))} are not in "
                            f"cluster {cluster.name}")
    if not members - strangers:
        raise UsageError("that would take every face out of the cluster")
    return (yield from _name(ctx, cluster, person, strangers))


def _name(ctx: Context, cluster: Cluster, person: str, strangers: set[int]) -> Step:
    store = ctx.service.store
    taught: dict[str, list[int]] = {}
    with store.transaction():
        for item, face in cluster.faces:
            if face.id in strangers:
                continue
            ref = store.add_reference(person, Origin.CLUSTER, str(item.path), face.sha256,
                                      face.box, face.encoding, Quality.of(face))
            taught.setdefault(face.sha256, []).append(ref)
    moved = with_entries(ctx, (yield from ctx.service.references_changed(taught)))
    return {"id": cluster.name, "person": person, "references": sum(map(len, taught.values())),
            "moved": moved, "items": cluster.items, "excluded": sorted(strangers),
            "faces": sorted(face.id for _, face in cluster.faces if face.id not in strangers)}


@handles("clusters.ignore")
def ignore(ctx: Context, id: str) -> Step:
    cluster = yield from find_cluster(ctx, id)
    ctx.service.store.ignore_faces([face.id for _, face in cluster.faces])
    return {"id": cluster.name, "ignored": len(cluster.faces)}
