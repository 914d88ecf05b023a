"""Grouping the unknown faces of the review queue: the same stranger across photos.

DBSCAN (as Immich and PhotoPrism use) on the 128-d encodings: a face with at least
`min_size` faces within `eps` (itself included) is a core face; clusters are the
core faces linked through such neighbourhoods, plus the faces they reach. Faces
reached by no core face stay unclustered. Written here in numpy (30 lines) rather
than taking scikit-learn and SciPy (~100 MB) for this one function; the queue holds
thousands of faces at most, and the distances are computed in blocks, so memory stays
bounded by a block's rows times n.

How the defaults ([review] cluster_distance, cluster_min_size) were chosen:
docs/review.md.

Pure: encodings in, groups of their indexes out. Which faces of the review queue
take part, and what a cluster is called, is files/clusters.py's.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .decide import distance_matrix

BLOCK = 1024  # rows of the distance matrix computed at once


def dbscan(points: np.ndarray, eps: float, min_size: int) -> np.ndarray:
    """Cluster labels (0, 1, ...) for each row of `points`; -1 for faces in no cluster.
    Cost: n² distances, computed a block of rows at a time."""
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


def groups(encodings: np.ndarray, ids: Sequence[int], eps: float, min_size: int,
           ignored: set[int]) -> list[list[int]]:
    """The clusters among faces (rows of `encodings`, known by `ids`) as lists of row
    indexes, largest first (then the one with the smallest id). A cluster most of whose
    faces are `ignored` is left out: ignoring hides it while it is mostly what was ignored."""
    if not len(ids):
        return []
    labels = dbscan(encodings, eps, min_size)
    found = []
    for label in range(labels.max() + 1):
        rows = [int(i) for i in np.flatnonzero(labels == label)]
        if 2 * sum(ids[i] in ignored for i in rows) < len(rows):
            found.append(rows)
    return sorted(found, key=lambda rows: (-len(rows), min(ids[i] for i in rows)))
