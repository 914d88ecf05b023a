"""Files moved as a group (Journal.move_group): two synced commits for many files, the
order on disk of a single move kept for each: a real SQLite file, real renames, and the
live daemon's system calls watched with strace."""

from __future__ import annotations

import os
import re
import shutil
import signal
import sqlite3
import subprocess
from collections import Counter
from pathlib import Path

from facewatchd.errors import RouteError
from facewatchd.files import route
from facewatchd.files.journal import Journal, Planned
from facewatchd.state import DB_NAME, Record, Store
from facewatchd.vocabulary import Outcome, Reason

from ..helpers import (
    DaemonProcess,
    account,
    files_under,
    ledger_agrees_with_disk,
    need,
    sha256,
    tiny_pictures,
    wait_until,
    write_config,
)


def planned(path: Path, folder: Path) -> Planned:
    identity = route.identify(path)
    assert identity is not None
    return Planned(path, folder, Record(Outcome.REVIEW, Reason.NO_FACE), *identity)


def test_a_group_files_each_once_under_a_name_of_its_own(tmp_path: Path) -> None:
    tiny_pictures(tmp_path / "inbound" / "a", 3)
    tiny_pictures(tmp_path / "inbound" / "b", 2)
    review = tmp_path / "review"
    sources = sorted((tmp_path / "inbound").rglob("*.jpg"))  # a/IMG_000000.jpg, b/IMG_000000.jpg...
    group = [planned(p, review) for p in sources]
    changed = sources[1]
    changed.write_bytes(changed.read_bytes() + b"edited after it was analysed")
    with Store(tmp_path / "state") as store:
        results = Journal(store).move_group(group)
        rows = store.db.execute("SELECT state, target, sha256 FROM files ORDER BY id").fetchall()
    assert isinstance(results[1], RouteError) and changed.exists()  # left where it was
    # The name the changed file was promised stays unused.
    assert sorted(p.name for p in review.iterdir()) == [
        "IMG_000000.jpg", "IMG_000000_1.jpg", "IMG_000001_1.jpg", "IMG_000002.jpg"]
    assert [row["state"] for row in rows] == ["done", "abandoned", "done", "done", "done"]
    for row, result in zip(rows, results, strict=True):
        if not isinstance(result, RouteError):
            assert Path(row["target"]) == result.target and sha256(result.target) == row["sha256"]


def test_a_group_into_a_bind_mount_moves_that_file_on_its_own(tmp_path: Path) -> None:
    need(os.geteuid() == 0, "a bind mount needs root")
    tiny_pictures(tmp_path / "inbound", 2)
    (tmp_path / "elsewhere").mkdir()
    mounted = tmp_path / "review"
    mounted.mkdir()
    subprocess.run(["mount", "--bind", str(tmp_path / "elsewhere"), str(mounted)], check=True)
    try:
        group = [planned(p, mounted) for p in sorted((tmp_path / "inbound").iterdir())]
        with Store(tmp_path / "state") as store:
            results = Journal(store).move_group(group)
        assert not [r for r in results if isinstance(r, RouteError)]
        assert sorted(p.name for p in mounted.iterdir()) == ["IMG_000000.jpg", "IMG_000001.jpg"]
        assert not list((tmp_path / "inbound").iterdir())
    finally:
        subprocess.run(["umount", str(mounted)], check=True)


RENAME = re.compile(r'renameat2\(AT_FDCWD(?:<[^>]*>)?, "([^"]+)", AT_FDCWD(?:<[^>]*>)?, "([^"]+)"')
FSYNC = re.compile(r'\bf(?:data)?sync\(\d+<([^>]*)>\)')


def test_the_daemon_moves_files_in_groups_and_each_reaches_the_disk_in_order(tmp_path: Path) -> None:
    """Each rename after its row's synced commit; each row's 'done' commit after the
    fsync of both folders of its rename; and fewer commits than files."""
    need(shutil.which("strace") is not None, "strace is not installed")
    config = write_config(tmp_path, daemon="settle = 0.3\n")
    count = 80
    tiny_pictures(tmp_path / "inbound", count)
    trace = tmp_path / "trace.txt"
    strace = ("strace", "-f", "-qq", "-y", "-o", str(trace), "-e",
              "trace=pwrite64,fsync,fdatasync,renameat2")
    with DaemonProcess(config, under=strace) as daemon:
        daemon.ready(timeout=180)
        daemon.wait_idle(count, timeout=300)
        # The daemon is strace's child: it, not strace, is asked to stop.
        children = Path(f"/proc/{daemon.proc.pid}/task/{daemon.proc.pid}/children").read_text()
        os.kill(int(children.split()[0]), signal.SIGTERM)
        assert daemon.proc.wait(timeout=60) == 0
    wal = f"{DB_NAME}-wal>"
    synced, unsynced, renames, commits = True, set(), 0, 0
    for line in trace.read_text().splitlines():
        if " = -1 " in line:
            continue
        if "pwrite64(" in line and wal in line:
            synced = False  # a row written, not yet on disk
        elif (found := FSYNC.search(line)) and wal in line:
            assert not unsynced, f"a commit before the renames were on disk: {unsynced}"
            synced = True
            commits += renames > 0
        elif found:
            unsynced.discard(Path(found.group(1)))
        elif (moved := RENAME.search(line)) and "/inbound/" in moved.group(1):
            assert synced, f"a file moved before its row was on disk: {line}"
            renames += 1
            unsynced.update(Path(p).parent for p in moved.groups())
    assert renames == count and len(files_under(tmp_path / "review")) == count
    assert commits < count / 2, f"{commits} commits for {count} files: not moved in groups"


def test_a_crash_at_any_fsync_of_a_group_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    """The daemon killed (SIGKILL, by strace) as it makes the Nth fsync of a folder or of
    the ledger's journal: after a group's renames before its folders are on disk, before
    its rows are, before its 'done' is... each time with new files coming in."""
    need(shutil.which("strace") is not None, "strace is not installed")
    config = write_config(tmp_path, daemon="settle = 0.3\n")
    folders = [tmp_path / "inbound", tmp_path / "review"]
    wal = tmp_path / "state" / f"{DB_NAME}-wal"
    dropped: Counter[str] = Counter()
    groups_caught = 0
    for n, (path, when) in enumerate([(tmp_path / "review", 1), (tmp_path / "review", 2),
                                      (tmp_path / "inbound", 2), (wal, 4), (wal, 7)]):
        dropped += tiny_pictures(tmp_path / "inbound", 200, start=200 * n)
        strace = ("strace", "-f", "-qq", "-o", "/dev/null", "-P", str(path), "-e", "trace=fsync,fdatasync",
                  "-e", f"inject=fsync,fdatasync:signal=KILL:when={when}")
        with DaemonProcess(config, under=strace) as daemon:
            assert daemon.proc.wait(timeout=300) != 0
        db = sqlite3.connect(tmp_path / "state" / DB_NAME)
        groups_caught += db.execute("SELECT count(*) FROM files WHERE state = 'moving'").fetchone()[0] > 1
        db.close()
        assert account(folders) == dropped, f"after the crash at fsync {when} of {path}"
    assert groups_caught >= 2  # crashes did land in the middle of groups
    with DaemonProcess(config) as daemon:
        daemon.ready(timeout=120)
        wait_until(lambda: not files_under(tmp_path / "inbound"), timeout=300)
        daemon.wait_idle(0)
        assert daemon.stop() == 0
    assert account(folders) == dropped
    ledger_agrees_with_disk(tmp_path, folders)
    assert "finished the interrupted move" in (tmp_path / "daemon.log").read_text()
