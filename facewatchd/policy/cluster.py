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

For a queue of 100,000 items (20,000 unknown faces, 4 × 10⁸ distances) that is
seconds of work, so the daemon keeps the neighbourhoods (`Neighbourhoods`): a face that
comes costs its row of distances against the others, a face that goes the rows of its
neighbours, and labelling them again is linear in the faces and their neighbours. Both
are long work (generators that yield between blocks, steps.py), so the loop goes on
answering meanwhile; the labels are exactly dbscan's for the same faces in the same
order.

Pure: encodings in, groups of their indexes out. Which faces of the review queue
take part, and what a cluster is called, is files/clusters.py's.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence

import numpy as np

from .decide import distance_matrix

BLOCK = 1024  # rows of the distance matrix computed at once
# Rows of distances between two yields of Neighbourhoods.update: 128 × 20,000 faces is
# 20 MB of distances (a few times that in temporaries) and a few tens of ms.
STEP_ROWS = 128
STEP_FACES = 2000  # faces labelled between two yields


def dbscan(points: np.ndarray, eps: float, min_size: int) -> np.ndarray:
    """Cluster labels (0, 1, ...) for each row of `points`; -1 for faces in no cluster.
    Cost: n² distances, computed a block of rows at a time."""
    neighbours: list[np.ndarray] = []
    for start in range(0, len(points), BLOCK):
        distances = distance_matrix(points[start:start + BLOCK], points)
        neighbours.extend(np.flatnonzero(row <= eps) for row in distances)
    core = np.array([len(n) >= min_size for n in neighbours], dtype=bool)
    steps = expand(core, neighbours.__getitem__)
    while True:
        try:
            next(steps)
        except StopIteration as end:
            labels: np.ndarray = end.value
            return labels


def expand(core: np.ndarray, neighbours: Callable[[int], np.ndarray]) -> Generator[None, None, np.ndarray]:
    """DBSCAN's labels of points 0..len(core)-1 from which are `core` (min_size
    neighbours or more) and each one's `neighbours` (their indexes, its own among
    them): a cluster grows from each core point not yet in one, through the core points
    among its neighbours. Yields every STEP_FACES points grown from (long work)."""
    labels = np.full(len(core), -1)
    label, visited = 0, 0
    for seed in range(len(core)):
        if labels[seed] != -1 or not core[seed]:
            continue
        labels[seed] = label
        stack = [seed]
        while stack:
            around = neighbours(stack.pop())
            fresh = around[labels[around] == -1]
            labels[fresh] = label
            stack.extend(fresh[core[fresh]].tolist())
            visited += 1
            if visited % STEP_FACES == 0:
                yield
        label += 1
    return labels


def groups(encodings: np.ndarray, ids: Sequence[int], eps: float, min_size: int,
           ignored: set[int]) -> list[list[int]]:
    """The clusters among faces (rows of `encodings`, known by `ids`) as lists of row
    indexes, largest first (then the one with the smallest id). A cluster most of whose
    faces are `ignored` is left out: ignoring hides it while it is mostly what was ignored."""
    if not len(ids):
        return []
    return labelled(dbscan(encodings, eps, min_size), ids, ignored)


def labelled(labels: np.ndarray, ids: Sequence[int], ignored: set[int]) -> list[list[int]]:
    """The clusters of dbscan's `labels` as groups does."""
    found = []
    for label in range(labels.max(initial=-1) + 1):
        rows = [int(i) for i in np.flatnonzero(labels == label)]
        if 2 * sum(ids[i] in ignored for i in rows) < len(rows):
            found.append(rows)
    return sorted(found, key=lambda rows: (-len(rows), min(ids[i] for i in rows)))


class Neighbourhoods:
    """The faces within `eps` of each face (itself included), by face id, kept as faces
    come and go. Memory: the neighbour lists (8 bytes a neighbour) and the encodings."""

    def __init__(self) -> None:
        self.eps: float | None = None
        self._near: dict[int, np.ndarray] = {}  # face id → the ids within eps

    def update(self, ids: Sequence[int], encodings: Sequence[np.ndarray], eps: float
               ) -> Generator[None, None, None]:
        """Long work: make the neighbourhoods those of these faces (yields between blocks
        of STEP_ROWS rows of distances). Cost: the faces new since the last update against
        all (all of them against all if eps changed or most are new)."""
        wanted = dict(zip(ids, encodings, strict=True))
        if eps != self.eps or 2 * sum(i not in self._near for i in wanted) > len(wanted):
            self._near, self.eps = {}, eps
        gone = [i for i in self._near if i not in wanted]
        if gone:
            touched = set(np.concatenate([self._near.pop(i) for i in gone]).tolist()) - set(gone)
            dropped = np.array(gone)
            for i in touched:
                self._near[i] = self._near[i][~np.isin(self._near[i], dropped)]
            yield
        known = [i for i in wanted if i in self._near]
        new = [i for i in wanted if i not in self._near]
        if not new:
            return
        order = np.array(known + new, dtype=np.int64)
        points = np.stack([wanted[i] for i in order.tolist()])
        squared = (points * points).sum(1)
        first = len(known)
        gets: list[np.ndarray] = []  # pairs: face gets[k] has face gives[k] within eps
        gives: list[np.ndarray] = []
        for start in range(first, len(order), STEP_ROWS):
            # Each pair once: a new face against the known ones and the new ones from it on.
            block = points[start:start + STEP_ROWS]
            for lo, hi in ((0, first), (start, len(order))):
                if lo == hi:
                    continue
                rows, columns = np.nonzero(distance_matrix(block, points[lo:hi], squared[lo:hi]) <= eps)
                rows, columns = rows + start, columns + lo
                if lo == start:
                    keep = columns >= rows
                    rows, columns = rows[keep], columns[keep]
                one, other = order[rows], order[columns]
                twice = rows != columns
                gets += [one, other[twice]]
                gives += [other, one[twice]]
            yield
        receiving, giving = np.concatenate(gets), np.concatenate(gives)
        by_face = np.argsort(receiving, kind="stable")
        receiving, giving = receiving[by_face], giving[by_face]
        faces, starts = np.unique(receiving, return_index=True)
        for face, more in zip(faces.tolist(), np.split(giving, starts[1:]), strict=True):
            before = self._near.get(face)
            self._near[face] = more if before is None else np.concatenate([before, more])

    def labels(self, ids: Sequence[int], min_size: int) -> Generator[None, None, np.ndarray]:
        """Long work: dbscan's labels of faces `ids` (every one of them updated), in
        that order. Cost: linear in the faces and their neighbours; yields every
        STEP_FACES faces."""
        order = np.asarray(ids, dtype=np.int64)
        by_id = np.argsort(order)
        sorted_ids = order[by_id]
        near = [self._near[i] for i in order.tolist()]
        core = np.array([len(n) >= min_size for n in near], dtype=bool)
        # Each one's neighbours (face ids) as indexes into `ids`, when it is grown from.
        return (yield from expand(core, lambda k: by_id[np.searchsorted(sorted_ids, near[k])]))
