"""Grouping the unknown faces of the review queue: the same stranger across photos.

DBSCAN (as Immich and PhotoPrism use) on the 128-d encodings: a face with at least
`min_size` faces within `eps` (itself included) is a core face; clusters are the
core faces linked through such neighbourhoods, plus the faces they reach. Faces
reached by no core face stay unclustered. Written here in numpy (30 lines) rather
than taking scikit-learn and SciPy (~100 MB) for this one function; the queue holds
thousands of faces at most, and the distances are computed in blocks, so memory stays
at ~4 MB per 1,000 faces in a block.

The defaults ([review] cluster_distance 0.5, cluster_min_size 3) come from the 86
faces of 19 people in the development photos: no two people's faces are within
0.55 of each other (4 pairs are within 0.6), while 89% of one person's pairs are
within 0.5. At 0.5 and 3, DBSCAN finds one cluster for each of the 15 people with
3 or more photos and mixes none; at 0.6 it mixes two.

A cluster's id is its smallest face id, written `c17` so that it is never taken for a
review item's: it stays the same while that face is in the queue, however the queue
grows, so `clusters name c17 Anna` names what `clusters` showed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .decide import distance_matrix
from .errors import UsageError
from .review import RECHECKED_REASONS, Item
from .store import StoredFace

BLOCK = 1024  # rows of the distance matrix computed at once


def dbscan(points: np.ndarray, eps: float, min_size: int) -> np.ndarray:
    """Cluster labels (0, 1, ...) for each row of `points`; -1 for faces in no cluster.
    Cost: n² distances, ~0.1 s for 5,000 faces."""
    neighbours: list[np.ndarray] = []
    for start in range(0, len(points), BLOCK):
        distances = distance_matrix(points[start:start + BLOCK], points)
        neighbours.extend(np.flatnonzero(row <= eps) for row in distances)
    core = [len(n) >= min_size for n in neighbours]
    labels = np.full(len(points), -1)
    label = 0
    for seed in range(len(points)):
        if labels[seed] != -1 or not core[seed]:
            continue
        labels[seed] = label
        stack = [seed]
        while stack:
            for other in neighbours[stack.pop()]:
                if labels[other] == -1:
                    labels[other] = label
                    if core[other]:
                        stack.append(other)
        label += 1
    return labels


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
        return {"id": self.name, "size": len(self.faces), "items": self.items,
                "samples": self.items[:samples], "nearest": person, "distance": distance}


def clusters(items: list[Item], eps: float, min_size: int, ignored: set[int]) -> list[Cluster]:
    """The clusters of unknown faces among `items`, largest first, without ignored ones."""
    unknown: dict[int, tuple[Item, StoredFace]] = {}
    for item in items:
        if item.reason not in RECHECKED_REASONS:
            continue
        matched = {v.face for v in item.decision.faces if v.matched}
        for face in item.faces:
            if face.index not in matched:
                unknown.setdefault(face.id, (item, face))
    if not unknown:
        return []
    members = list(unknown.values())
    labels = dbscan(np.stack([face.encoding for _, face in members]), eps, min_size)
    found = []
    for label in range(labels.max() + 1):
        group = [members[i] for i in np.flatnonzero(labels == label)]
        # Ignoring a cluster hides it while most of its faces are the ones ignored.
        if 2 * sum(face.id in ignored for _, face in group) >= len(group):
            continue
        found.append(Cluster(min(face.id for _, face in group), tuple(group)))
    return sorted(found, key=lambda c: (-len(c.faces), c.id))
