"""Faults injected into the real daemon: nothing is lost, duplicated or corrupted.

Each test drives `facewatchd` as a subprocess on real photos, breaks something (kill -9,
a full disk, a missing or read-only folder), lets it recover, and then accounts for
every byte that went in.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import time
import zlib
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from facewatchd.control import protocol
from facewatchd.state import DB_NAME

from ..helpers import (
    ROOT,
    SETTLE,
    DaemonProcess,
    account,
    files_under,
    ledger_agrees_with_disk,
    second_filesystem,
    sha256,
    tree,
    wait_until,
)

PHOTOS = ["people/Barack_Obama/obama2.jpg", "people/Joe_Biden/biden2.jpg", "no_faces/cat.jpg",
          "people/Kit_Harington/johnsnow_test1.jpg", "groups/lady.jpg"]


@contextmanager
def tmpfs(folder: Path, options: str) -> Iterator[Path]:
    """A small tmpfs mounted at `folder` (to fill up, or to make read-only)."""
    folder.mkdir(exist_ok=True)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs (not root)")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def drop_variants(data: Path, inbound: Path, count: int, seed: int = 0, pad: int = 0) -> Counter[str]:
    """`count` distinct files made from a few real photos: bytes appended after a JPEG's
    end change its hash, not its picture (`pad` zeros more make its copy longer).
    Returns the hashes dropped."""
    rng = random.Random(seed)
    dropped: Counter[str] = Counter()
    for i in range(count):
        photo = data / PHOTOS[i % len(PHOTOS)]
        folder = inbound / f"batch{i % 4}"
        folder.mkdir(exist_ok=True)
        target = folder / f"{i:04d}-{photo.name}"
        target.write_bytes(photo.read_bytes() + rng.randbytes(16) + bytes(pad))
        dropped[sha256(target)] += 1
    return dropped


def moves_under_way(root: Path) -> int:
    """Rows of the ledger saying a move was under way (read while the daemon is dead)."""
    db = sqlite3.connect(root / "state" / DB_NAME)
    try:
        return db.execute("SELECT count(*) FROM files WHERE state = 'moving'").fetchone()[0]
    finally:
        db.close()


def claims(inbound: Path) -> set[Path]:
    """The claims in inbound's folders: files being copied to another filesystem."""
    return {folder / name for folder in inbound.iterdir() for name in os.listdir(folder)
            if name.endswith(".claim")}


def first_claim(inbound: Path, before: set[Path], timeout: float = 120) -> None:
    """Return as soon as a file in inbound is claimed for a copy to another filesystem
    (a claim not in `before`: one an earlier kill left is the start's to settle)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if claims(inbound) - before:
            return
    raise AssertionError("no move across filesystems began")


def test_kill_9_at_random_moments_loses_and_duplicates_nothing(data: Path, tmp_path: Path) -> None:
    rng = random.Random(7)
    with second_filesystem(tmp_path) as other:
        (other / "sorted").mkdir()
        config = tree(tmp_path, data, destination=f"{other}/sorted/{{person}}")
        dropped = drop_variants(data, tmp_path / "inbound", 240, pad=2 << 20)
        folders = [tmp_path / "inbound", other / "sorted", tmp_path / "review"]
        mid_move = 0
        for attempt in range(8):
            left = claims(tmp_path / "inbound")
            with DaemonProcess(config) as daemon:
                if attempt < 4:  # the moment a copy across filesystems has begun
                    first_claim(tmp_path / "inbound", left)
                else:  # any moment: starting, analysing, moving
                    time.sleep(rng.uniform(1.0, 5.0))
                daemon.proc.send_signal(signal.SIGKILL)
                daemon.proc.wait()
            mid_move += moves_under_way(tmp_path) > 0
            # Nothing lost; a file caught between its claim and the end of its copy may be
            # there twice (byte-identical) until the next start settles it.
            found = account(folders, skip_temporary=True)
            assert set(found) == set(dropped), f"after kill {attempt + 1}"
            assert sum(found.values()) - sum(dropped.values()) <= 1
        assert mid_move >= 4  # the kills did land in the middle of moves
        with DaemonProcess(config) as daemon:
            daemon.ready()
            daemon.wait_idle(0)
            assert daemon.stop() == 0
        assert account(folders) == dropped
        assert not files_under(tmp_path / "inbound")  # everything was sorted in the end
        assert not [p for p in files_under(*folders) if ".facewatchd-" in p.name]
        ledger_agrees_with_disk(tmp_path, folders)
        log = (tmp_path / "daemon.log").read_text()
        assert "Traceback" not in log and "the interrupted move" in log


def test_a_full_destination_keeps_files_in_inbound_until_there_is_room(data: Path, tmp_path: Path) -> None:
    with tmpfs(tmp_path / "small", "size=400k") as small:
        (small / "sorted").mkdir()
        config = tree(tmp_path, data, daemon=SETTLE + "rescan_interval = 2\n",
                      destination=f"{small}/sorted/{{person}}")
        with DaemonProcess(config) as daemon:
            daemon.ready()
            big = data / "people" / "Barack_Obama" / "obama.jpg"  # a reference: sure to match
            (tmp_path / "inbound" / "filler.jpg").write_bytes(big.read_bytes())
            dropped = Counter({sha256(big): 1})
            for i in range(4):
                name = tmp_path / "inbound" / f"obama{i}.jpg"
                name.write_bytes(big.read_bytes() + bytes([i]) * 8)
                dropped[sha256(name)] += 1
            wait_until(lambda: "No space left" in str(daemon.status()["last_error"]), why=daemon.status)
            assert files_under(tmp_path / "inbound")  # what did not fit is still in inbound, whole
            assert account([tmp_path / "inbound", small / "sorted"]) == dropped
            assert not [p for p in files_under(small) if ".facewatchd-" in p.name]
            subprocess.run(["mount", "-o", "remount,size=8m", str(small)], check=True)
            wait_until(lambda: not files_under(tmp_path / "inbound"), why=daemon.status)  # retried
            assert account([tmp_path / "inbound", small / "sorted", tmp_path / "review"]) \
                == dropped
            assert daemon.stop() == 0


def test_a_missing_destination_or_read_only_review_is_an_error_not_a_loss(data: Path,
                                                                          tmp_path: Path) -> None:
    with tmpfs(tmp_path / "review", "ro,size=8m") as review:
        config = tree(tmp_path, data, daemon=SETTLE + "rescan_interval = 1\n")
        cat, obama = data / "no_faces" / "cat.jpg", data / "people" / "Barack_Obama" / "obama.jpg"
        with DaemonProcess(config) as daemon:
            daemon.ready()
            shutil.rmtree(tmp_path / "sorted")  # the destination's disk went away
            shutil.copy2(cat, tmp_path / "inbound" / "cat.jpg")
            shutil.copy2(obama, tmp_path / "inbound" / "obama.jpg")
            wait_until(lambda: daemon.status()["left"] >= 2, why=daemon.status)
            errors = (tmp_path / "daemon.log").read_text()
            assert f"{tmp_path / 'sorted'} is missing" in errors and "Read-only file system" in errors
            assert not (tmp_path / "sorted").exists()  # not recreated on the mount point
            assert sorted(p.name for p in files_under(tmp_path / "inbound")) == ["cat.jpg", "obama.jpg"]
            (tmp_path / "sorted").mkdir()
            subprocess.run(["mount", "-o", "remount,rw", str(review)], check=True)
            wait_until(lambda: not files_under(tmp_path / "inbound"), why=daemon.status)
            assert sha256(review / "cat.jpg") == sha256(cat)
            assert sha256(tmp_path / "sorted" / "Barack_Obama" / "obama.jpg") == sha256(obama)
            assert daemon.stop() == 0


def test_a_destination_disk_not_mounted_is_never_filled_nor_its_root_recreated(data: Path,
                                                                            tmp_path: Path) -> None:
    sorted_ = tmp_path / "sorted"  # the destination's root is a disk of its own
    sorted_.mkdir()
    mount = ["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(sorted_)]
    if subprocess.run(mount, capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs (not root)")
    try:
        config = tree(tmp_path, data, daemon=SETTLE + "rescan_interval = 1\nretry_after = 0.5\n")
        savage = data / "people" / "John_Savage"
        with DaemonProcess(config) as daemon:
            daemon.ready()
            shutil.copy2(savage / "000264_01099001.jpg", tmp_path / "inbound" / "savage.jpg")
            daemon.wait_idle(1)
            (item,) = json.loads(daemon.ctl("--json", "review", "list").stdout)
            subprocess.run(["umount", str(sorted_)], check=True)  # its mount point stays, empty
            for gone in ("unmounted", "missing"):
                if gone == "missing":
                    sorted_.rmdir()
                obama = tmp_path / "inbound" / f"obama-{gone}.jpg"
                photo = "obama2.jpg" if gone == "unmounted" else "obama_small.jpg"
                shutil.copy2(data / "people" / "Barack_Obama" / photo, obama)
                waiting = 1 + (gone == "missing")
                wait_until(lambda: daemon.status()["waiting_to_move"] == waiting,  # noqa: B023
                           why=daemon.status)
                why = "another filesystem" if gone == "unmounted" else "is missing"
                assert any(why in u for u in daemon.status()["unavailable"])
                for action in (["keep", str(item["id"]), "--person", "Barack_Obama"],
                               ["add-reference", str(item["id"]), "--person", "John_Savage"]):
                    refused = daemon.ctl("review", *action, check=False)
                    assert refused.returncode == 65 and why in refused.stdout, refused
                # A reference of him arrives: the re-check would file the item there.
                (tmp_path / "references" / "John_Savage").mkdir(exist_ok=True)
                shutil.copy2(savage / "000274_01099061.jpg", tmp_path / "references" / "John_Savage"
                             / f"{gone}.jpg")
                wait_until(lambda: "John_Savage" in daemon.status()["references"], why=daemon.status)
                time.sleep(1)
                assert [i["id"] for i in json.loads(daemon.ctl("--json", "review", "list").stdout)] \
                    == [item["id"]]
                assert obama.is_file()
                assert (list(sorted_.iterdir()) == []) if gone == "unmounted" else not sorted_.exists()
            sorted_.mkdir()
            subprocess.run(mount, check=True)  # back
            # The kernel may give the new tmpfs the device number the first had (as a disk
            # that comes back has its own): then it is taken at once; if not, it waits for
            # a person to say it is right.
            if daemon.status()["unavailable"]:
                assert not files_under(sorted_)
                daemon.ctl("reload")
            else:
                daemon.ctl("scan")  # tried again now, not after the backoff
            wait_until(lambda: not files_under(tmp_path / "inbound"), why=daemon.status)
            assert not daemon.status()["unavailable"]
            daemon.ctl("reload")  # the queue checked again: he is filed now
            assert {p.name for p in files_under(sorted_)} == {"obama-unmounted.jpg", "obama-missing.jpg",
                                                             "savage.jpg"}
            assert daemon.stop() == 0
    finally:
        subprocess.run(["umount", "-l", str(sorted_)], capture_output=True)


def hostile_inbound(data: Path, inbound: Path, outside: Path) -> tuple[Counter[str], list[Path]]:
    """Every kind of bad file and bad name; returns the hashes of the regular files and
    the special entries that must be left exactly as they are."""
    obama = (data / "people" / "Barack_Obama" / "obama2.jpg").read_bytes()
    heic = (data / "formats" / "biden2.heic").read_bytes()
    mp4 = (data / "video" / "hamilton_clip.mp4").read_bytes()
    png = (data / "people" / "bbt_sheldon" / "sheldon1.png").read_bytes()
    bomb = io.BytesIO()
    Image.new("1", (1, 1)).save(bomb, "PNG")
    header = bytearray(bomb.getvalue())  # claim 50,000 x 50,000 pixels in the IHDR chunk
    header[16:24] = (50000).to_bytes(4, "big") * 2
    header[29:33] = zlib.crc32(bytes(header[12:29])).to_bytes(4, "big")
    audio = inbound.parent / "audio.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=duration=1", str(audio)], check=True)
    files = {
        b"truncated.jpg": obama[:9000], b"truncated.heic": heic[:5000], b"truncated.mp4": mp4[:20000],
        b"truncated.png": png[:3000], b"corrupt.png": png[:100] + bytes(200) + png[300:],
        b"empty.jpg": b"", b"text.jpg": b"just some words\n", b"bomb.png": bytes(header),
        b"only-audio.mp4": audio.read_bytes(), b"new\nline.jpg": obama + b"1",
        b"bad-\xff\xfe-utf8.jpg": obama + b"2", b"-rf.jpg": obama + b"3",
        b"x" * 251 + b".jpg": obama + b"4", b"caf\xc3\xa9 \xe2\x98\x83.jpg": obama + b"5",
    }
    dropped: Counter[str] = Counter()
    root = os.fsencode(inbound)
    for name, content in files.items():
        with open(os.path.join(root, name), "wb") as f:
            f.write(content)
        dropped[hashlib.sha256(content).hexdigest()] += 1
    (outside / "secret.jpg").write_bytes(obama + b"secret")
    specials = [inbound / "shadow.jpg", inbound / "secret.jpg", inbound / "folder.jpg",
                inbound / "fifo.jpg", inbound / "null.jpg"]
    specials[0].symlink_to("/etc/shadow")
    specials[1].symlink_to(outside / "secret.jpg")
    specials[2].symlink_to(outside, target_is_directory=True)
    os.mkfifo(specials[3])
    os.mknod(specials[4], 0o600 | stat.S_IFCHR, os.makedev(1, 3))
    return dropped, specials


def test_hostile_files_and_names_are_sorted_or_set_aside_and_specials_left_alone(
        data: Path, tmp_path: Path) -> None:
    config = tree(tmp_path, data, daemon=SETTLE)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    with DaemonProcess(config) as daemon:
        daemon.ready()
        dropped, specials = hostile_inbound(data, tmp_path / "inbound", outside)
        daemon.wait_idle(sum(dropped.values()))
        folders = [tmp_path / "inbound", tmp_path / "sorted", tmp_path / "review"]
        assert account(folders) == dropped
        assert sorted((tmp_path / "inbound").iterdir()) == sorted(specials)  # only these stay
        assert [p.is_symlink() for p in specials[:3]] == [True] * 3
        assert stat.S_ISFIFO(specials[3].lstat().st_mode) and stat.S_ISCHR(specials[4].lstat().st_mode)
        assert (outside / "secret.jpg").is_file()
        failed = {os.fsencode(p.name) for p in (tmp_path / "review" / "failed").iterdir()}
        assert failed == {b"truncated.jpg", b"truncated.heic", b"truncated.mp4", b"truncated.png",
                          b"corrupt.png", b"empty.jpg", b"text.jpg", b"bomb.png", b"only-audio.mp4"}
        obama = {os.fsencode(p.name) for p in (tmp_path / "sorted" / "Barack_Obama").iterdir()}
        assert obama == {b"new\nline.jpg", b"bad-\xff\xfe-utf8.jpg", b"-rf.jpg", b"x" * 251 + b".jpg",
                         b"caf\xc3\xa9 \xe2\x98\x83.jpg"}
        why = daemon.ctl("--json", "why", tmp_path / "sorted" / "Barack_Obama" / os.fsdecode(b"bad-\xff\xfe-utf8.jpg"))
        assert json.loads(why.stdout)["outcome"] == "sorted"
        listed = json.loads(daemon.ctl("--json", "review", "list").stdout)
        assert len(listed) == 9
        ledger_agrees_with_disk(tmp_path, folders)
        assert daemon.stop() == 0
    assert "Traceback" not in (tmp_path / "daemon.log").read_text()


def test_kill_9_while_clearing_the_review_queue_loses_nothing(data: Path, tmp_path: Path) -> None:
    with second_filesystem(tmp_path) as other:
        # Kept across filesystems (copied, synced, claimed), so the batch lasts long enough
        # for the kill to land in its middle even on a fast disk.
        (other / "sorted").mkdir()
        config = tree(tmp_path, data, daemon=SETTLE, destination=f"{other}/sorted/{{person}}")
        dropped = drop_variants(data, tmp_path / "inbound", 100, pad=2 << 20)
        kept = other / "sorted" / "kept"
        folders = [tmp_path / "inbound", other / "sorted", tmp_path / "review"]
        with DaemonProcess(config) as daemon:
            daemon.ready()
            daemon.wait_idle(100)
            in_review = daemon.status()["in_review"]
            assert in_review >= 30
            keep = subprocess.Popen([sys.executable, "-m", "facewatchd.control.ctl", "--config", str(config),
                                     "review", "keep", "--all", "--to", str(kept)],
                                    cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            wait_until(lambda: kept.is_dir() and any(kept.iterdir()), 60, why="nothing kept")
            daemon.proc.send_signal(signal.SIGKILL)
            daemon.proc.wait()
            keep.wait(60)
        whole = [p for p in files_under(kept) if not p.name.startswith(".facewatchd-")]
        assert 0 < len(whole) < in_review  # the kill landed in the middle of the batch
        assert account(folders, skip_temporary=True) == dropped
        with DaemonProcess(config) as daemon:
            daemon.ready()  # and the copy it was making is finished or undone
            left = daemon.status()["in_review"]
            assert left + len(files_under(kept)) == in_review  # each item in review or kept, once
            daemon.ctl("review", "keep", "--all", "--to", kept, check=left > 0)
            assert daemon.status()["in_review"] == 0 and len(files_under(kept)) == in_review
            assert daemon.stop() == 0
        assert account(folders) == dropped
        ledger_agrees_with_disk(tmp_path, folders)


def test_a_file_replaced_while_it_is_analysed_is_looked_at_again(data: Path, tmp_path: Path) -> None:
    config = tree(tmp_path, data, daemon=SETTLE + "rescan_interval = 1\n")
    clip = tmp_path / "inbound" / "clip.mp4"
    with DaemonProcess(config) as daemon:
        daemon.ready()
        shutil.copy2(data / "video" / "pedestrians_1080p.mp4", clip)  # seconds to analyse
        wait_until(lambda: daemon.status()["in_flight"] == 1, why=daemon.status)
        staged = tmp_path / "staged.mp4"
        shutil.copy2(data / "video" / "no_faces_table.mp4", staged)
        os.rename(staged, clip)  # replaced under the worker's feet
        daemon.wait_idle(2)
        assert daemon.stop() == 0
    assert "changed while it was being analysed" in (tmp_path / "daemon.log").read_text()
    (placed,) = files_under(tmp_path / "review")
    assert sha256(placed) == sha256(data / "video" / "no_faces_table.mp4")  # the new one, whole
    assert not files_under(tmp_path / "inbound")


@pytest.fixture(scope="module")
def live(data: Path, tmp_path_factory: pytest.TempPathFactory):
    """A daemon with a few sorted and reviewed files, for fuzzing its real commands."""
    root = tmp_path_factory.mktemp("fuzz")
    config = tree(root, data, daemon=SETTLE)
    dropped = drop_variants(data, root / "inbound", 10)
    with DaemonProcess(config) as daemon:
        daemon.ready()
        daemon.wait_idle(10)
        daemon.root, daemon.dropped = root, dropped
        yield daemon
        assert daemon.stop() == 0


arguments = st.dictionaries(
    st.sampled_from(sorted({a.name for c in protocol.COMMANDS.values() for a in c.args} | {"x"})),
    st.none() | st.booleans() | st.integers(-3, 10**6) | st.text(max_size=30)
    | st.sampled_from(["/etc/shadow", "/", "..", "Barack_Obama", "-1h", "10:00"])
    | st.lists(st.integers(-1, 50) | st.text(max_size=10), max_size=3),
    max_size=4)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cmd=st.sampled_from(sorted(set(protocol.COMMANDS) - {"reload"})), args=arguments)
def test_fuzzed_commands_to_a_live_daemon_answer_and_lose_nothing(live, cmd: str, args: dict) -> None:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(str(live.root / "state" / "facewatchd.sock"))
        sock.settimeout(60)
        with sock.makefile("rb") as answers:
            sock.sendall(protocol.request(1, cmd, args))
            answer = json.loads(answers.readline())
    assert answer["id"] == 1 and (answer["ok"] or answer["error"]["code"] != "internal"), answer
    folders = [live.root / "inbound", live.root / "sorted", live.root / "review"]
    assert account(folders) == live.dropped
    assert live.proc.poll() is None


def busy_worker(daemon_pid: int) -> int:
    """The daemon's worker process that is using the CPU now (workers are the children
    of its forkserver)."""
    def parent_and_ticks(pid: int) -> tuple[int, int]:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[1]), int(fields[11]) + int(fields[12])

    def processes() -> dict[int, tuple[int, int]]:
        found = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    found[int(entry)] = parent_and_ticks(int(entry))
                except (OSError, IndexError, ValueError):
                    pass
        return found

    before = processes()
    time.sleep(0.3)
    after = processes()
    servers = {pid for pid, (parent, _) in after.items() if parent == daemon_pid}
    workers = [pid for pid, (parent, _) in after.items() if parent in servers]
    return max(workers, key=lambda pid: after[pid][1] - before.get(pid, (0, 0))[1])


def test_a_worker_killed_mid_file_is_replaced_and_the_file_still_sorted(data: Path, tmp_path: Path) -> None:
    config = tree(tmp_path, data, daemon=SETTLE)
    with DaemonProcess(config) as daemon:
        daemon.ready()
        shutil.copy2(data / "video" / "pedestrians_1080p.mp4", tmp_path / "inbound" / "clip.mp4")
        wait_until(lambda: daemon.status()["in_flight"] == 1, why=daemon.status)
        time.sleep(0.3)  # it takes seconds to analyse
        os.kill(busy_worker(daemon.proc.pid), signal.SIGKILL)
        status = daemon.wait_idle(1)
        assert status["worker_restarts"] == 1 and status["matched"] + status["review"] == 1
        assert daemon.stop() == 0
    (placed,) = files_under(tmp_path / "sorted", tmp_path / "review")
    assert sha256(placed) == sha256(data / "video" / "pedestrians_1080p.mp4")


# Found by reading the daemon (issue 11): each of these failed on the daemon before it.


@contextmanager
def read_only(folder: Path) -> Iterator[Path]:
    """`folder` as a read-only bind mount of itself: nothing in it can be deleted."""
    folder.mkdir(parents=True, exist_ok=True)
    if subprocess.run(["mount", "--bind", str(folder), str(folder)], capture_output=True).returncode:
        pytest.skip("cannot bind-mount (not root)")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(folder)], check=True)
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def test_a_trash_purge_that_cannot_delete_is_skipped_and_the_daemon_carries_on(
        data: Path, tmp_path: Path) -> None:
    config = tree(tmp_path, data, daemon=SETTLE, extra="[review]\ntrash_days = 0\n")
    with DaemonProcess(config) as daemon:
        daemon.ready()
        shutil.copy2(data / "no_faces" / "cat.jpg", tmp_path / "inbound" / "cat.jpg")
        daemon.wait_idle(1)
        (item,) = json.loads(daemon.ctl("--json", "review", "list").stdout)
        daemon.ctl("review", "delete", str(item["id"]))  # expired at once: trash_days = 0
        assert daemon.stop() == 0
    trashed = tmp_path / "review" / "trash" / "cat.jpg"
    assert trashed.is_file()
    with read_only(tmp_path / "review" / "trash"):
        with DaemonProcess(config) as daemon:  # purges at its first tick: cannot
            daemon.ready()
            wait_until(lambda: "could not purge" in str(daemon.status()["last_error"]), why=daemon.status)
            shutil.copy2(data / "people" / "Barack_Obama" / "obama2.jpg", tmp_path / "inbound")
            daemon.wait_idle(1)  # and it still sorts
            assert (tmp_path / "sorted" / "Barack_Obama" / "obama2.jpg").is_file()
            assert daemon.proc.poll() is None and daemon.stop() == 0
        assert trashed.is_file()
    with DaemonProcess(config) as daemon:  # writable again: purged at the next purge
        daemon.ready()
        wait_until(lambda: not trashed.exists(), why=daemon.status)
        assert daemon.stop() == 0
    assert "Traceback" not in (tmp_path / "daemon.log").read_text()


def test_a_command_that_fails_midway_is_answered_and_the_daemon_carries_on(
        data: Path, tmp_path: Path) -> None:
    config = tree(tmp_path, data, daemon=SETTLE)
    photo = tmp_path / "sorted" / "rose.jpg"
    shutil.copy2(data / "people" / "Rose_Leslie" / "img1.jpg", photo)
    with DaemonProcess(config) as daemon:
        daemon.ready()
        # Another program holds the database's write lock (a backup, say) while the
        # enrollment, answered later, comes to write the reference: it cannot.
        db = sqlite3.connect(tmp_path / "state" / DB_NAME, isolation_level=None)
        db.execute("BEGIN EXCLUSIVE")
        try:
            refused = daemon.ctl("enroll", "Rose_Leslie", photo, check=False)
        finally:
            db.execute("ROLLBACK")
            db.close()
        assert refused.returncode == 70 and "database is locked" in refused.stderr
        assert daemon.proc.poll() is None
        added = json.loads(daemon.ctl("--json", "enroll", "Rose_Leslie", photo).stdout)
        assert added["files"][0]["added"]  # the same command works once the lock is gone
        assert daemon.stop() == 0


def slow_copy_started(folder: Path, pattern: str, deadline: float) -> Path:
    """The first hidden temporary copy matching `pattern` to appear under `folder`."""
    while time.monotonic() < deadline:
        for path in folder.rglob(pattern):
            return path
        time.sleep(0.001)
    raise AssertionError(f"no {pattern} appeared in {folder}")


def drop_padded(photo: Path, megabytes: int, target: Path) -> str:
    """Drop (written beside, then renamed in) a photo with zeros after its end: the same
    picture, a long copy. Returns its hash."""
    staged = target.parent.parent / f"staged-{target.name}"
    staged.write_bytes(photo.read_bytes() + bytes(megabytes << 20))
    digest = sha256(staged)
    os.rename(staged, target)
    return digest


def test_a_file_renamed_onto_the_source_during_a_copy_across_filesystems_is_kept(
        data: Path, tmp_path: Path) -> None:
    with second_filesystem(tmp_path) as other:
        (other / "sorted").mkdir()
        config = tree(tmp_path, data, daemon=SETTLE, destination=f"{other}/sorted/{{person}}")
        big = tmp_path / "inbound" / "big.jpg"
        newcomer = tmp_path / "newcomer.jpg"
        shutil.copy2(data / "people" / "Joe_Biden" / "biden2.jpg", newcomer)
        dropped = Counter({sha256(newcomer): 1})
        with DaemonProcess(config) as daemon:
            daemon.ready()
            dropped[drop_padded(data / "people" / "Barack_Obama" / "obama2.jpg", 300, big)] += 1
            slow_copy_started(other / "sorted", ".facewatchd-*.tmp", time.monotonic() + 120)
            daemon.proc.send_signal(signal.SIGSTOP)  # mid-copy
            try:
                os.rename(newcomer, big)  # another file takes the source's name
            finally:
                daemon.proc.send_signal(signal.SIGCONT)
            daemon.wait_idle(2)
            assert daemon.stop() == 0
        folders = [tmp_path / "inbound", other / "sorted", tmp_path / "review"]
        assert account(folders) == dropped  # the newcomer too, sorted on its own
        biden = sha256(data / "people" / "Joe_Biden" / "biden2.jpg")
        assert sha256(other / "sorted" / "Joe_Biden" / "big.jpg") == biden
        ledger_agrees_with_disk(tmp_path, folders)


def test_kill_9_while_linking_a_photo_of_two_people_leaves_nothing_unjournaled(
        data: Path, tmp_path: Path) -> None:
    config = tree(tmp_path, data, daemon=SETTLE)
    folders = [tmp_path / "inbound", tmp_path / "sorted", tmp_path / "review"]
    # Biden's folder on a filesystem of its own: his name for the photo is a copy.
    with tmpfs(tmp_path / "sorted" / "Joe_Biden", "size=900m"):
        pair = tmp_path / "inbound" / "pair.jpg"
        with DaemonProcess(config) as daemon:
            daemon.ready()
            dropped = Counter({drop_padded(data / "groups" / "two_people.jpg", 400, pair): 1})
            slow_copy_started(tmp_path / "sorted", ".facewatchd-*-*.tmp", time.monotonic() + 120)
            daemon.proc.send_signal(signal.SIGKILL)  # while the second name is being copied
            daemon.proc.wait()
        with DaemonProcess(config) as daemon:  # recovery finishes the journaled link
            daemon.ready()
            daemon.wait_idle(0)
            assert daemon.stop() == 0
        (digest,) = dropped
        assert account(folders) == {digest: 2}  # the photo, and its copy for Biden
        for person in ("Barack_Obama", "Joe_Biden"):
            assert sha256(tmp_path / "sorted" / person / "pair.jpg") == digest
        assert not [p for p in files_under(*folders) if ".facewatchd-" in p.name]
        ledger_agrees_with_disk(tmp_path, folders)
        assert "finished the interrupted move" in (tmp_path / "daemon.log").read_text()


def test_a_file_that_cannot_be_moved_is_not_analysed_again_while_it_waits(
        data: Path, tmp_path: Path) -> None:
    with tmpfs(tmp_path / "small", "size=200k") as small:
        (small / "sorted").mkdir()
        config = tree(tmp_path, data, daemon=SETTLE + "retry_after = 0.5\nrescan_interval = 1\n",
                      destination=f"{small}/sorted/{{person}}")
        photo = data / "people" / "Barack_Obama" / "obama.jpg"  # 280 KB: never fits
        with DaemonProcess(config) as daemon:
            daemon.ready()
            analysed = daemon.status()["analysed"]
            shutil.copy2(photo, tmp_path / "inbound" / "obama.jpg")
            # Retried at 0.5, 1, 2 and 4 s (and rescans every second): the move each time,
            wait_until(lambda: daemon.status()["left"] >= 4, why=daemon.status)
            assert daemon.status()["analysed"] == analysed + 1  # the analysis only once
            assert daemon.status()["waiting_to_move"] == 1
            assert (tmp_path / "inbound" / "obama.jpg").is_file()
            subprocess.run(["mount", "-o", "remount,size=8m", str(small)], check=True)
            daemon.ctl("scan")  # a person made room and asks: tried again at once
            wait_until(lambda: (small / "sorted" / "Barack_Obama" / "obama.jpg").is_file(), why=daemon.status)
            assert daemon.status()["analysed"] == analysed + 1
            assert daemon.stop() == 0
