from __future__ import annotations

import numpy as np

from facewatchd.policy.cluster import dbscan


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
