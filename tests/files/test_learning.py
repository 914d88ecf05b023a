"""auto_reference end to end: a real daemon learns from a sure match, says so in `why`,
shows it in `references`, and `undo` of that file disables what it learned."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from ..helpers import DaemonProcess, tree


def drop(daemon: DaemonProcess, root: Path, data: Path, photo: str) -> None:
    processed = daemon.status()["processed"]
    shutil.copy2(data / "people" / "Barack_Obama" / photo, root / "inbound" / photo)
    daemon.wait_idle(processed + 1)


def automatic(daemon: DaemonProcess) -> list[dict]:
    refs = json.loads(daemon.ctl("--json", "references", "Barack_Obama").stdout)
    return [r for r in refs if r["origin"] == "auto"]


def test_a_sure_match_teaches_once_and_undo_takes_it_back(data: Path, tmp_path: Path) -> None:
    # His references are obama.jpg and obama1.jpg; obama2.jpg is 0.36 from the nearest
    # (sure, and not a near-copy), obama_small.jpg 0.09 (a near-copy: nothing to learn).
    with DaemonProcess(tree(tmp_path, data, auto_reference=True)) as daemon:
        daemon.ready()
        drop(daemon, tmp_path, data, "obama2.jpg")
        drop(daemon, tmp_path, data, "obama_small.jpg")
        sorted_to = tmp_path / "sorted" / "Barack_Obama"
        assert sorted(p.name for p in sorted_to.iterdir()) == ["obama2.jpg", "obama_small.jpg"]
        (learned,) = automatic(daemon)
        assert learned["active"] and learned["path"] == str(sorted_to / "obama2.jpg")
        why = daemon.ctl("why", sorted_to / "obama2.jpg").stdout
        assert f"learned: face 1 became automatic reference {learned['id']} of Barack_Obama" in why
        assert "learned" not in daemon.ctl("why", sorted_to / "obama_small.jpg").stdout

        daemon.ctl("undo", sorted_to / "obama2.jpg")
        assert (tmp_path / "inbound" / "obama2.jpg").exists()
        assert [r["active"] for r in automatic(daemon)] == [False]
        assert daemon.stop() == 0


def test_nothing_is_learned_by_default(data: Path, tmp_path: Path) -> None:
    with DaemonProcess(tree(tmp_path, data)) as daemon:
        daemon.ready()
        drop(daemon, tmp_path, data, "obama2.jpg")
        assert (tmp_path / "sorted" / "Barack_Obama" / "obama2.jpg").exists()
        assert automatic(daemon) == []
        assert daemon.stop() == 0
