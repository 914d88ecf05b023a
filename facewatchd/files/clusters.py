"""The unknown faces of the review queue, grouped: the same stranger across photos.

Which faces take part: those of items that may match someone once taught (unknown,
uncertain, several people), and that match nobody now. The grouping itself is
policy/cluster.py's DBSCAN, on neighbourhoods the review queue keeps from one listing
to the next (a face that came costs a row of distances, not n²), and the clusters are
remembered until the queue's rows, the references, the ignored faces or the settings
change. Finding them is long work (`grouped`, steps.py).

A cluster's id is its smallest face id, written `c17` so that it is never taken for a
review item's: it stays the same while that face is in the queue, however the queue
grows, so `clusters name c17 Anna` names what `clusters` showed.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

from ..errors import UsageError
from ..policy.cluster import labelled
from ..state import StoredFace
from .items import Item
from .review import RECHECKED_REASONS, ReviewQueue


def cluster_number(name: str) -> int:
    """The number in a cluster's id: 17 for "c17" (UsageError for anything else)."""
    if len(name) > 1 and name[0] in "cC" and name[1:].isdigit():
        return int(name[1:])
    raise UsageError(f"{name!r} is not a cluster id: they look like c17 (facewatchctl clusters)")


@dataclass(frozen=True)
class Cluster:
    id: int
    faces: tuple[tuple[Item, StoredFace], ...]

    @property
    def name(self) -> str:
        return f"c{self.id}"

    @property
    def items(self) -> list[int]:
        return list(dict.fromkeys(item.id for item, _ in self.faces))

    def as_dict(self, samples: int = 6) -> dict[str, Any]:
        nearest = [(v.distance, v.person) for item, face in self.faces
                   for v in item.decision.faces if v.face == face.index and v.distance is not None]
        distance, person = min(nearest) if nearest else (None, None)
        faces = []
        for item, face in self.faces:  # each face: its id, and which face (1, 2...) of which item
            v = next((v for v in item.decision.faces if v.face == face.index), None)
            faces.append({"id": face.id, "item": item.id, "n": face.index + 1,
                          "person": v and v.person, "distance": v and v.distance})
        return {"id": self.name, "size": len(self.faces), "items": self.items,
                "samples": self.items[:samples], "nearest": person, "distance": distance,
                "faces": faces}


def unknown_faces(items: list[Item]) -> list[tuple[Item, StoredFace]]:
    """The faces that take part, in the order of `items` (each face once)."""
    unknown: dict[int, tuple[Item, StoredFace]] = {}
    for item in items:
        if item.reason not in RECHECKED_REASONS:
            continue
        matched = {v.face for v in item.decision.faces if v.matched}
        for face in item.faces:
            if face.index not in matched:
                unknown.setdefault(face.id, (item, face))
    return list(unknown.values())


def grouped(queue: ReviewQueue, eps: float, min_size: int, ignored: set[int]
            ) -> Generator[None, None, list[Cluster]]:
    """Long work: the clusters of unknown faces in the queue, largest first, without
    ignored ones; the same as before while nothing they depend on changed."""
    yield from queue.prepare()
    references, key = queue.sorter.references, (queue.rows_version(), frozenset(ignored), eps, min_size)
    kept = queue.clustered
    if kept is not None and kept[0] is references and kept[1] == key:
        return list(kept[2])
    members = unknown_faces(queue.items())
    ids = [face.id for _, face in members]
    yield
    yield from queue.neighbourhoods.update(ids, [face.encoding for _, face in members], eps)
    labels = yield from queue.neighbourhoods.labels(ids, min_size)
    found = [Cluster(min(members[i][1].id for i in rows), tuple(members[i] for i in rows))
             for rows in labelled(labels, ids, ignored)]
    queue.clustered = (references, key, found)
    return list(found)
