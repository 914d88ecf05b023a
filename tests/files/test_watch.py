"""The watcher on real inotify, and the settler."""

from __future__ import annotations

import os
import queue
import shutil
import time
from pathlib import Path

import pytest

from facewatchd.files.watch import Arrival, Settler, Watcher

from ..helpers import need


def arrivals(watcher: Watcher, until: float = 3.0) -> set[Arrival]:
    seen = set()
    deadline = time.monotonic() + until
    while time.monotonic() < deadline:
        try:
            seen.add(watcher.arrivals.get(timeout=0.1))
        except queue.Empty:
            pass
    return seen


@pytest.fixture
def watched(tmp_path: Path):
    inbound = tmp_path / "inbound"
    inbound.mkdir()
    watcher = Watcher([(inbound, True)], lambda: None)
    watcher.start()
    yield inbound, watcher
    watcher.stop()


def test_each_way_a_file_arrives_is_seen(watched, tmp_path: Path, other_fs: Path) -> None:
    inbound, watcher = watched
    (inbound / "written.jpg").write_bytes(b"x")  # close-after-write
    (tmp_path / "staged.jpg").write_bytes(b"x")
    os.rename(tmp_path / "staged.jpg", inbound / "renamed.jpg")  # same filesystem
    (inbound / ".tmp-download").write_bytes(b"x")
    os.rename(inbound / ".tmp-download", inbound / "moved-in-tree.jpg")  # within the tree
    (other_fs / "far.jpg").write_bytes(b"x")
    shutil.move(other_fs / "far.jpg", inbound / "far.jpg")  # another filesystem
    (inbound / "new" / "deeper").mkdir(parents=True)
    (inbound / "new" / "deeper" / "lost.jpg").write_bytes(b"x")
    seen = arrivals(watcher)
    files = {a.path.name for a in seen if not a.is_dir}
    assert {"written.jpg", "renamed.jpg", "moved-in-tree.jpg", "far.jpg"} <= files
    assert Arrival(inbound / "new", True) in seen  # the daemon scans new folders
    assert not any(a.path.name.startswith(".") for a in seen)


def test_a_queue_overflow_is_noticed(tmp_path: Path) -> None:
    need(os.geteuid() == 0, "lowering fs.inotify.max_queued_events needs root")
    knob = Path("/proc/sys/fs/inotify/max_queued_events")
    saved = knob.read_text()
    inbound = tmp_path / "inbound"
    inbound.mkdir()
    try:
        knob.write_text("16")  # read when the inotify instance is created
        watcher = Watcher([(inbound, True)], lambda: None)
        watcher.start()
    finally:
        knob.write_text(saved)
    try:
        # The reader thread may keep up for a while: write in batches until it does not.
        noticed = False
        for batch in range(20):
            for i in range(500):
                (inbound / f"{batch}-{i}.jpg").write_bytes(b"x")
            time.sleep(0.2)
            if noticed := watcher.take_overflow():
                break
    finally:
        watcher.stop()
    assert noticed, "no overflow noticed"


def test_without_inotify_watches_left_a_folder_is_polled(tmp_path: Path) -> None:
    need(os.geteuid() == 0, "lowering fs.inotify.max_user_watches needs root")
    knob = Path("/proc/sys/fs/inotify/max_user_watches")
    saved = knob.read_text()
    inbound = tmp_path / "inbound"
    for i in range(3):
        (inbound / f"sub{i}").mkdir(parents=True)
    try:
        knob.write_text("1")
        watcher = Watcher([(inbound, True)], lambda: None)
        watcher.start()
    finally:
        knob.write_text(saved)
    try:
        assert watcher.polled == [inbound]
        (inbound / "sub1" / "late.jpg").write_bytes(b"x")
        assert Arrival(inbound / "sub1" / "late.jpg", False) in arrivals(watcher, until=12)
    finally:
        watcher.stop()


def test_the_settler_waits_until_a_file_stops_changing(tmp_path: Path) -> None:
    settler = Settler(quiet=1.0, limit=10)
    path = tmp_path / "a.jpg"
    path.write_bytes(b"x")
    now = time.monotonic()
    settler.offer(path, now)
    assert settler.ready(now + 0.5) == []
    assert settler.ready(now + 1.5) == []  # mtime is still fresh: being written
    old = time.time() - 10
    os.utime(path, (old, old))
    assert settler.ready(now + 3.0) == [path]
    assert len(settler) == 0


def test_the_settler_drops_what_vanished_and_is_bounded(tmp_path: Path) -> None:
    settler = Settler(quiet=0.0, limit=2)
    settler.offer(tmp_path / "gone.jpg", 0.0)
    assert settler.ready() == [] and len(settler) == 0
    for name in "abc":
        settler.offer(tmp_path / name, 0.0)
    assert len(settler) == 2 and settler.overflowed
