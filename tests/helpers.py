"""Helpers for the tests: paths, configs, subprocess runs."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import textwrap
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("FACEWATCHD_TEST_DATA", ROOT.parent / "shared" / "data" / "faces"))


def need(condition: bool, reason: str) -> None:
    """Skip when something outside the project is missing; under CI=true, fail instead."""
    if condition:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: required)")
    pytest.skip(reason)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def files_under(*folders: Path) -> list[Path]:
    return sorted(p for folder in folders if folder.exists()
                  for p in folder.rglob("*") if p.is_file() or p.is_symlink())


def write_config(folder: Path, *, extra: str = "", watch_extra: str = "",
                 destination: str = "sorted/{person}", **recognition: object) -> Path:
    """A config in `folder` with references/, inbound/, sorted/, review/ and state/ beside it."""
    for name in ("references", "inbound", "sorted"):
        (folder / name).mkdir(exist_ok=True)
    rec = "".join(f"{k} = {v!r}\n".replace("'", '"') for k, v in recognition.items())
    text = textwrap.dedent(f"""\
        [daemon]
        state_dir = "state"
        socket = "state/facewatchd.sock"
        workers = 2

        [recognition]
        references = "references"
        """) + rec + textwrap.dedent(f"""
        [[watch]]
        inbound = "inbound"
        destination = "{destination}"
        review = "review"
        """) + watch_extra + "\n" + extra
    path = folder / "facewatchd.toml"
    path.write_text(text)
    return path


def add_references(data: Path, references: Path, per_person: int = 2) -> dict[str, list[Path]]:
    """Copy the first `per_person` photos of each person; return the others (the probes)."""
    probes = {}
    for person in sorted(p for p in (data / "people").iterdir() if p.is_dir()):
        photos = sorted(person.iterdir())
        (references / person.name).mkdir(parents=True, exist_ok=True)
        for photo in photos[:per_person]:
            shutil.copy2(photo, references / person.name / photo.name)
        probes[person.name] = photos[per_person:]
    return probes


def facewatchd(*args: str | Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "facewatchd", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT)


@contextmanager
def second_filesystem(base: Path) -> Iterator[Path]:
    """A folder on another filesystem than `base`: a fresh tmpfs if we may mount, else /dev/shm."""
    mount = base / "otherfs"
    mount.mkdir()
    if os.geteuid() == 0 and subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=512m", "tmpfs", str(mount)],
            capture_output=True).returncode == 0:
        try:
            yield mount
        finally:
            subprocess.run(["umount", "-l", str(mount)], check=True)
        return
    shm = Path("/dev/shm")
    need(shm.is_dir() and shm.stat().st_dev != base.stat().st_dev,
         "no second filesystem: not root (to mount a tmpfs) and no /dev/shm")
    folder = Path(subprocess.check_output(["mktemp", "-d", "-p", str(shm)], text=True).strip())
    try:
        yield folder
    finally:
        shutil.rmtree(folder)
