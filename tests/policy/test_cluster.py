from __future__ import annotations

from collections.abc import Generator
from typing import TypeVar

import numpy as np

from facewatchd.policy.cluster import Neighbourhoods, dbscan

T = TypeVar("T")


def blob(rng: np.random.Generator, centre: np.ndarray, n: int, spread: float) -> np.ndarray:
    return centre + rng.normal(0, spread / np.sqrt(128), (n, 128))


def test_dbscan_separates_people_and_leaves_loners_out() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(0, 0.1, 128), rng.normal(0, 0.1, 128)
    b = a + (b - a) / np.linalg.norm(b - a) * 0.9  # two people 0.9 apart
    loner = a - (b - a)
    points = np.vstack([blob(rng, a, 6, 0.2), blob(rng, b, 4, 0.2), loner[None]])
    labels = dbscan(points, eps=0.5, min_size=3)
    assert len(set(labels[:6])) == 1 and len(set(labels[6:10])) == 1
    assert labels[0] != labels[6] and labels[0] >= 0 and labels[6] >= 0
    assert labels[10] == -1


def test_dbscan_needs_min_size_faces_around_a_core() -> None:
    rng = np.random.default_rng(2)
    pair = blob(rng, rng.normal(0, 0.1, 128), 2, 0.1)
    assert list(dbscan(pair, eps=0.5, min_size=3)) == [-1, -1]
    assert list(dbscan(pair, eps=0.5, min_size=2)) == [0, 0]


def test_dbscan_works_across_blocks() -> None:
    rng = np.random.default_rng(3)
    centres = rng.normal(0, 1, (3, 128))
    points = np.vstack([blob(rng, c, 700, 0.1) for c in centres])  # 2,100 faces: 3 blocks
    labels = dbscan(points, eps=0.5, min_size=3)
    assert [len(set(labels[i * 700:(i + 1) * 700])) for i in range(3)] == [1, 1, 1]
    assert len(set(labels)) == 3


def run(steps: Generator[None, None, T]) -> T:
    """Drive long work (steps.py) to its end, as the daemon's loop would."""
    while True:
        try:
            next(steps)
        except StopIteration as end:
            return end.value


def test_kept_neighbourhoods_label_as_dbscan_while_faces_come_and_go() -> None:
    """Faces added (a few, then many) and taken away: the labels of the kept
    neighbourhoods are always dbscan's of the faces there are, in the same order."""
    rng = np.random.default_rng(4)
    centres = rng.normal(0, 0.1, (12, 128))
    points = np.vstack([blob(rng, c, 40, 0.35) for c in centres] + [rng.normal(0, 0.1, (30, 128))])
    ids = list(rng.permutation(len(points)) + 100)  # ids in no particular order
    kept = Neighbourhoods()
    for present in (range(200), range(205), range(3, 205), range(len(points)),
                    [i for i in range(len(points)) if i % 7]):
        rows = list(present)
        face_ids = [int(ids[i]) for i in rows]
        run(kept.update(face_ids, [points[i] for i in rows], 0.5))
        labels = run(kept.labels(face_ids, 3))
        assert list(labels) == list(dbscan(points[rows], 0.5, 3))
        assert labels.max() >= 4 and -1 in labels or len(rows) < 480  # clusters, and loners


def test_kept_neighbourhoods_start_again_when_eps_changes() -> None:
    rng = np.random.default_rng(5)
    points = np.vstack([blob(rng, rng.normal(0, 0.1, 128), 10, 0.3) for _ in range(4)])
    kept, ids = Neighbourhoods(), list(range(len(points)))
    for eps in (0.5, 0.2, 0.5):
        run(kept.update(ids, list(points), eps))
        assert list(run(kept.labels(ids, 3))) == list(dbscan(points, eps, 3))
