"""Unknown faces that look like one person: listing, naming, ignoring."""

from __future__ import annotations

from typing import Any

from ...errors import NotFoundError, UsageError
from ...files.clusters import Cluster, cluster_number, clusters
from ...files.items import Item, valid_person_name
from ...steps import Step
from .base import Context, handles

ORIGIN_CLUSTER = "cluster"  # references made by naming a cluster


def _clusters(ctx: Context, items: list[Item] | None = None) -> list[Cluster]:
    review = ctx.service.config.review
    return clusters(ctx.review.items() if items is None else items, review.cluster_distance,
                    review.cluster_min_size, ctx.service.store.ignored_faces())


def find_cluster(ctx: Context, name: str, items: list[Item] | None = None) -> Cluster:
    number = cluster_number(name)
    for cluster in _clusters(ctx, items):
        if cluster.id == number:
            return cluster
    raise NotFoundError(f"no cluster {name} (run `clusters` again: the queue has changed)")


@handles("clusters")
def listing(ctx: Context) -> list[dict[str, Any]]:
    return [cluster.as_dict() for cluster in _clusters(ctx)]


@handles("clusters.name")
def name(ctx: Context, id: str, person: str, exclude: list[int] | None = None) -> Step:
    """Name a cluster, but for the faces taken out of it (`exclude`): taking a face out
    keeps no state, so it may join a cluster again later, where it may belong."""
    valid_person_name(person)
    cluster = find_cluster(ctx, id)
    members = {face.id for _, face in cluster.faces}
    strangers = set(exclude or ())
    if strangers - members:
        raise NotFoundError(f"faces {', '.join(map(str, sorted(strangers - members)))} are not in "
                            f"cluster {cluster.name}")
    if not members - strangers:
        raise UsageError("that would take every face out of the cluster")
    return _name(ctx, cluster, person, strangers)


def _name(ctx: Context, cluster: Cluster, person: str, strangers: set[int]) -> Step:
    store = ctx.service.store
    taught: dict[str, list[int]] = {}
    with store.transaction():
        for item, face in cluster.faces:
            if face.id in strangers:
                continue
            ref = store.add_reference(person, ORIGIN_CLUSTER, str(item.path), face.sha256,
                                      face.box, face.encoding)
            taught.setdefault(face.sha256, []).append(ref)
    moved = yield from ctx.service.references_changed(taught)
    return {"id": cluster.name, "person": person, "references": sum(map(len, taught.values())),
            "moved": moved, "items": cluster.items, "excluded": sorted(strangers)}


@handles("clusters.ignore")
def ignore(ctx: Context, id: str) -> dict[str, Any]:
    cluster = find_cluster(ctx, id)
    ctx.service.store.ignore_faces([face.id for _, face in cluster.faces])
    return {"id": cluster.name, "ignored": len(cluster.faces)}
