"""Shared fixtures: the real photo set, real models, real filesystems, real subprocesses."""

from __future__ import annotations

from pathlib import Path

import pytest

from .dask_cluster import DaskCluster, dask_available
from .helpers import DATA, need, second_filesystem


@pytest.fixture(scope="session")
def data() -> Path:
    need((DATA / "manifest.csv").is_file(),
         f"test photos not found at {DATA}; set FACEWATCHD_TEST_DATA to the faces folder")
    return DATA


@pytest.fixture(scope="session")
def engine():
    from facewatchd.engine.faces import FaceEngine

    return FaceEngine()


@pytest.fixture
def other_fs(tmp_path: Path):
    """A folder on another filesystem than tmp_path."""
    with second_filesystem(tmp_path) as folder:
        yield folder


@pytest.fixture(scope="module")
def dask_required() -> None:
    need(dask_available(), "dask distributed is missing (pip install facewatchd[cluster])")


@pytest.fixture(scope="module")
def cluster(dask_required: None, tmp_path_factory: pytest.TempPathFactory):
    """A real Dask cluster (a scheduler and two workers) for the module's tests."""
    with DaskCluster(tmp_path_factory.mktemp("dask")) as c:
        yield c.start()
