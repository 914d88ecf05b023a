"""Shared fixtures: the real photo set, real models, real filesystems, real subprocesses."""

from __future__ import annotations

from pathlib import Path

import pytest

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
