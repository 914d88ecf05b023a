"""`make demo`'s script on a small photo set: it builds, sorts, explains, and says so
before it replaces a demo made before (and never touches a folder that is not one)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from ..helpers import ROOT


def small_set(data: Path, folder: Path) -> Path:
    for person in ("Barack_Obama", "Joe_Biden"):
        shutil.copytree(data / "people" / person, folder / "people" / person)
    (folder / "groups").mkdir()
    shutil.copy2(data / "groups" / "lady.jpg", folder / "groups")
    return folder


def demo(data: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "scripts/demo.py", "--data", str(data), "--out", str(out)],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)


def test_the_demo_sorts_says_where_the_commands_are_and_replaces_only_its_own(
        data: Path, tmp_path: Path) -> None:
    photos = small_set(data, tmp_path / "photos")
    first = demo(photos, tmp_path / "demo")
    assert first.returncode == 0, first.stderr
    assert "replacing" not in first.stdout and ".venv/bin/facewatchctl" in first.stdout
    assert (tmp_path / "demo" / "sorted" / "Barack_Obama").is_dir()
    assert any((tmp_path / "demo" / "review").rglob("lady.jpg"))
    assert "who is in it, for photo tools" in first.stdout and "RegionName" in first.stdout
    assert list((tmp_path / "demo" / "sorted" / "Barack_Obama").rglob("*.xmp"))
    second = demo(photos, tmp_path / "demo")
    assert second.returncode == 0 and second.stdout.startswith("demo: replacing the demo made before")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.txt").write_text("years of work")
    refused = demo(photos, tmp_path / "mine")
    assert refused.returncode == 1 and "no demo of ours" in refused.stderr
    assert (tmp_path / "mine" / "thesis.txt").read_text() == "years of work"
