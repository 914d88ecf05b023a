"""The daemon end to end: a real subprocess, real inotify, the real control socket,
sd_notify on a socket of our own, signals."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facewatchd.control import protocol
from facewatchd.state import DB_NAME

from ..helpers import (
    ROOT,
    SETTLE,
    DaemonProcess,
    facewatchctl,
    facewatchd,
    files_under,
    need,
    second_filesystem,
    sha256,
    tree,
    wait_until,
    write_config,
)

WATCHDOG = 4.0  # seconds, as WatchdogSec=4s would set it


def ledger(root: Path, source: Path) -> sqlite3.Row:
    db = sqlite3.connect(root / "state" / DB_NAME)
    db.row_factory = sqlite3.Row
    rows = db.execute("SELECT * FROM files WHERE source = ? AND state = 'done'", (str(source),)).fetchall()
    db.close()
    assert len(rows) == 1, f"{source}: {len(rows)} ledger rows"
    return rows[0]


def raw_call(socket_path: Path, request: dict, uid: int, gid: int) -> tuple[int, str]:
    """Talk to the socket as another user, with Debian's python3 (the venv's is under /root)."""
    code = ("import socket, sys, json\n"
            "s = socket.socket(socket.AF_UNIX)\n"
            "try:\n    s.connect(sys.argv[1])\nexcept PermissionError:\n    print('EACCES'); sys.exit(0)\n"
            "s.sendall(sys.argv[2].encode() + b'\\n')\n"
            "print(s.makefile().readline().strip())\n")
    result = subprocess.run(["/usr/bin/python3", "-c", code, str(socket_path), json.dumps(request)],
                            user=uid, group=gid, extra_groups=[], capture_output=True, text=True,
                            timeout=30)
    return result.returncode, result.stdout.strip()


@pytest.fixture(scope="module")
def running(data: Path, tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("daemon")
    # The socket in a folder others may enter, to test who may use it.
    socket_dir = Path(tempfile.mkdtemp(prefix="facewatchd-test-"))
    socket_dir.chmod(0o755)
    config = tree(root, data, daemon=SETTLE + 'group = "nogroup"\n',
                  socket=str(socket_dir / "ctl.sock"))
    with second_filesystem(root) as other:
        with DaemonProcess(config, env={"WATCHDOG_USEC": "1000000"}) as daemon:
            daemon.ready()
            daemon.root, daemon.other, daemon.socket = root, other, socket_dir / "ctl.sock"
            yield daemon
            assert daemon.stop() == 0
    shutil.rmtree(socket_dir)


def test_ready_comes_after_the_references_are_in(running) -> None:
    status = running.status()
    known = {"Barack_Obama": 2, "Joe_Biden": 1, "Kit_Harington": 2}  # (others may learn more)
    assert {p: status["references"][p] for p in known} == known
    ready = running.notify.wait_for("READY=1")
    assert any(f.startswith("STATUS=") for f in running.notify.messages[ready].splitlines())


def test_the_control_socket_is_0660_in_the_configured_group(running) -> None:
    st = running.socket.stat()
    assert stat.S_IMODE(st.st_mode) == 0o660 and st.st_gid == 65534


def test_watchdog_pings_at_half_the_interval(running) -> None:
    before = running.notify.fields().count("WATCHDOG=1")
    time.sleep(1.6)
    assert running.notify.fields().count("WATCHDOG=1") - before >= 2


def test_files_dropped_every_way_are_sorted(running, data: Path) -> None:
    inbound, root, other = running.root / "inbound", running.root, running.other
    obama, biden = data / "people" / "Barack_Obama", data / "people" / "Joe_Biden"
    processed = running.status()["processed"]
    drops = {}
    shutil.copy(obama / "obama2.jpg", inbound / "copied.jpg")  # written in place
    drops["copied.jpg"] = "Barack_Obama"
    shutil.copy(biden / "biden2.jpg", root / "staged.jpg")
    os.rename(root / "staged.jpg", inbound / "renamed.jpg")  # mv on the same filesystem
    drops["renamed.jpg"] = "Joe_Biden"
    shutil.copy(obama / "obama_small.jpg", other / "far.jpg")
    shutil.move(other / "far.jpg", inbound / "far.jpg")  # mv from another filesystem
    drops["far.jpg"] = "Barack_Obama"
    (inbound / ".incoming").mkdir()
    shutil.copy(data / "no_faces" / "cat.jpg", inbound / ".incoming" / "cat.jpg")
    os.rename(inbound / ".incoming" / "cat.jpg", inbound / "cat.jpg")  # renamed within the tree
    drops["cat.jpg"] = None
    (inbound / "trip" / "day1").mkdir(parents=True)  # files written into brand-new folders
    for name in ("000264_01099001.jpg", "000274_01099061.jpg"):
        shutil.copy(data / "people" / "John_Savage" / name, inbound / "trip" / "day1" / name)
        drops[f"trip/day1/{name}"] = None  # John Savage is not known: review
    shutil.copy(data / "people" / "Kit_Harington" / "johnsnow_test1.jpg", inbound / "trip" / "kit.jpg")
    drops["trip/kit.jpg"] = "Kit_Harington"
    running.wait_idle(processed + len(drops))
    for name, person in drops.items():
        row = ledger(root, inbound / name)
        if person:
            assert json.loads(row["persons"]) == [person], name
            assert row["target"] == str(root / "sorted" / person / name)
        else:
            assert row["outcome"] == "review" and row["target"] == str(root / "review" / name), name
        assert sha256(Path(row["target"])) == row["sha256"]
    assert not any(p.name in drops for p in files_under(inbound))


def test_a_file_written_slowly_is_taken_only_when_complete(running, data: Path) -> None:
    photo = data / "people" / "Barack_Obama" / "obama_32bit_rgba.png"  # 870 KB
    content = photo.read_bytes()
    target = running.root / "inbound" / "slow.png"
    processed = running.status()["processed"]

    def write_slowly() -> None:
        with open(target, "wb") as f:
            for i in range(0, len(content), len(content) // 8 + 1):
                f.write(content[i:i + len(content) // 8 + 1])
                f.flush()
                time.sleep(0.25)  # pauses within the settle time: it is still being written

    writer = threading.Thread(target=write_slowly)
    writer.start()
    writer.join()
    running.wait_idle(processed + 1)
    row = ledger(running.root, target)
    assert row["sha256"] == sha256(Path(row["target"])) == sha256(photo)
    assert (row["outcome"], json.loads(row["persons"])) == ("sorted", ["Barack_Obama"])


def test_status_json_has_the_documented_keys(running) -> None:
    status = running.status()
    for key in ("uptime_s", "workers", "queued", "in_flight", "processed", "matched", "review",
                "failed", "duplicates", "references", "last_error"):
        assert key in status
    assert status["workers"] == 2
    assert status["analysis"] == {"mode": "local", "state": "running", "workers": 2,
                                  "restarts": status["worker_restarts"]}
    text = running.ctl("status").stdout
    assert "references: Barack_Obama 2" in text and "last error:" in text
    assert "analysis: this machine, 2 worker processes" in text


def test_test_shows_the_evidence_and_moves_nothing(running, data: Path) -> None:
    photo = running.root / "sorted" / "two_people.jpg"  # not in inbound: not sorted
    shutil.copy(data / "groups" / "two_people.jpg", photo)
    answer = json.loads(running.ctl("--json", "test", photo).stdout)
    assert sorted(answer["persons"]) == ["Barack_Obama", "Joe_Biden"] and len(answer["faces"]) == 2
    assert all(f["matched"] and f["distance"] <= f["tolerance"] for f in answer["faces"])
    assert photo.exists()
    text = running.ctl("test", photo).stdout
    assert "is Barack_Obama (reference" in text and "would go to" in text


def test_files_outside_the_daemons_folders_are_never_read_for_a_client(running, data: Path) -> None:
    (running.root / "sorted" / "shadow.jpg").symlink_to("/etc/shadow")
    for path in (data / "groups" / "two_people.jpg", Path("/etc/shadow"),
                 running.root / "sorted" / "shadow.jpg"):
        for command in (["test", path], ["enroll", "Anyone", path]):
            refused = running.ctl(*command, check=False)
            assert refused.returncode == 77 and "only in its own folders" in refused.stderr


def test_why_explains_a_sorted_file(running, data: Path) -> None:
    inbound = running.root / "inbound"
    processed = running.status()["processed"]
    shutil.copy(data / "groups" / "lady.jpg", inbound / "stranger.jpg")
    running.wait_idle(processed + 1)
    text = running.ctl("why", running.root / "review" / "stranger.jpg").stdout
    assert str(inbound / "stranger.jpg") in text
    assert "is not known; nearest is" in text and "beyond the tolerance 0.56" in text
    missing = running.ctl("why", "/nowhere/x.jpg", check=False)
    assert missing.returncode == 66 and "no file at" in missing.stderr


def test_references_can_be_enrolled_disabled_and_enabled(running, data: Path) -> None:
    for name in ("img1.jpg", "img2.jpg"):
        shutil.copy(data / "people" / "Rose_Leslie" / name, running.root / "sorted" / f"rose-{name}")
    rose, probe = running.root / "sorted" / "rose-img1.jpg", running.root / "sorted" / "rose-img2.jpg"
    added = json.loads(running.ctl("--json", "enroll", "Rose_Leslie", rose).stdout)
    (entry,) = added["files"]
    assert entry["added"]
    assert "Rose_Leslie" in running.ctl("persons").stdout
    assert json.loads(running.ctl("--json", "test", probe).stdout)["persons"] == ["Rose_Leslie"]
    running.ctl("reference", "disable", str(entry["id"]))
    assert json.loads(running.ctl("--json", "test", probe).stdout)["persons"] == []
    again = running.ctl("enroll", "Rose_Leslie", rose).stdout  # it is known, but disabled
    assert f"already reference {entry['id']}, disabled: `facewatchctl reference enable {entry['id']}`" in again
    running.ctl("reference", "enable", str(entry["id"]))
    assert json.loads(running.ctl("--json", "test", probe).stdout)["persons"] == ["Rose_Leslie"]
    refs = json.loads(running.ctl("--json", "references", "Rose_Leslie").stdout)
    assert [r["origin"] for r in refs] == ["ctl"]
    shutil.copy(data / "groups" / "two_people.jpg", running.root / "sorted" / "group.jpg")
    group = running.ctl("enroll", "Anyone", running.root / "sorted" / "group.jpg", check=False)
    assert group.returncode == 65 and "faces of similar size" in group.stderr
    shutil.copy(data / "no_faces" / "cat.jpg", running.root / "sorted" / "cat.jpg")
    cat = running.ctl("enroll", "Anyone", running.root / "sorted" / "cat.jpg", check=False)
    assert cat.returncode == 65, cat
    assert "no reference of Anyone was added" in cat.stderr and "no face found" in cat.stderr
    assert "Anyone" not in running.ctl("persons").stdout
    mixed = running.ctl("enroll", "Rose_Leslie", running.root / "sorted" / "cat.jpg", probe)
    assert "not used" in mixed.stdout and "added reference" in mixed.stdout
    bad = running.ctl("enroll", "../etc", rose, check=False)
    assert bad.returncode == 64 and "cannot be a person's folder name" in bad.stderr


def test_scan_sorts_what_events_missed_and_reports(running, data: Path) -> None:
    # Files placed where no event will tell: under a dot-folder, then revealed by a rename
    # of the folder itself (a folder event the daemon scans, or the explicit scan does).
    hidden = running.root / "inbound" / ".batch"
    hidden.mkdir()
    for name in ("cats.jpg", "dogs.jpg"):
        shutil.copy(data / "no_faces" / name, hidden / name)
    os.rename(hidden, running.root / "inbound" / "batch")
    result = json.loads(running.ctl("--json", "scan").stdout)
    assert "processed" in result
    running.wait_idle(0)
    assert sorted(p.name for p in (running.root / "review" / "batch").iterdir()) == ["cats.jpg", "dogs.jpg"]
    outside = running.ctl("scan", "/etc", check=False)
    assert outside.returncode == 77 and "not a folder in an inbound folder" in outside.stderr


def test_only_root_the_daemon_user_and_the_group_may_connect(running) -> None:
    need(os.geteuid() == 0, "running a client as another user needs root")
    status = {"v": 1, "id": 1, "cmd": "status"}
    code, out = raw_call(running.socket, status, uid=65534, gid=65534)  # nobody, in nogroup
    assert code == 0 and json.loads(out)["ok"] is True
    code, out = raw_call(running.socket, status, uid=4242, gid=4242)  # a stranger
    assert out == "EACCES"  # the socket's mode keeps it out
    running.socket.chmod(0o666)  # even when the mode lets it in, SO_PEERCRED does not
    try:
        code, out = raw_call(running.socket, status, uid=4242, gid=4242)
        assert json.loads(out)["error"]["code"] == "not_allowed"
    finally:
        running.socket.chmod(0o660)
    assert running.status()["workers"] == 2  # and the daemon carries on


def test_reload_keeps_queued_work_and_takes_new_references(running, data: Path) -> None:
    shutil.copytree(data / "people" / "Lin-Manuel_Miranda", running.root / "references" / "Lin-Manuel_Miranda")
    processed = running.status()["processed"]
    inbound = running.root / "inbound"
    for i, photo in enumerate(sorted((data / "people" / "bbt_amy").iterdir())):
        shutil.copy(photo, inbound / f"amy{i}.png")
    before = len(running.notify.messages)
    running.proc.send_signal(signal.SIGHUP)
    reloading = running.notify.wait_for("RELOADING=1", after=before)
    running.notify.wait_for("READY=1", after=reloading)
    running.wait_idle(processed + 5)
    assert running.status()["references"]["Lin-Manuel_Miranda"] == 1
    assert len(list((running.root / "review").glob("amy*.png"))) == 5
    text = running.ctl("reload").stdout
    assert text.startswith("reloaded: references of") and "0 new reference photos" in text


def test_a_bad_config_on_reload_keeps_the_running_one(running) -> None:
    config = running.config
    good = config.read_text()
    config.write_text(good.replace("tolerance", "tolerance") + "\n[bogus]\n")
    try:
        result = running.ctl("reload", check=False)
        assert result.returncode == 78 and "bogus" in result.stderr
    finally:
        config.write_text(good)
    assert running.status()["state"] == "running"


def test_ctl_says_clearly_when_the_daemon_is_not_running(tmp_path: Path) -> None:
    result = facewatchctl(write_config(tmp_path), "status", check=False)
    assert result.returncode == 69 and "facewatchd is not running" in result.stderr


# Each of these runs a daemon of its own.


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def gone(pids: list[int], timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = []
        for pid in pids:
            try:
                os.kill(pid, 0)
                alive.append(pid)
            except ProcessLookupError:
                pass
        if not alive:
            return True
        time.sleep(0.1)
    return False


def noise_pngs(folder: Path, count: int) -> None:
    """Distinct small pictures with no face: cheap to analyse, each a different file."""
    rng = np.random.default_rng(3)
    for i in range(count):
        Image.fromarray(rng.integers(0, 255, (24, 24, 3), dtype=np.uint8)).save(folder / f"n{i:05}.png")


def test_thousands_of_files_at_once_then_kept_at_once(data: Path, tmp_path: Path) -> None:
    """5,000 files dropped at once are held in bounded memory; then `review keep --all`
    moves all of them to another filesystem a slice at a time: the daemon answers while
    it works and its watchdog is never starved."""
    with second_filesystem(tmp_path) as other:
        (other / "sorted").mkdir()
        config = tree(tmp_path, data, daemon=SETTLE + "queue_limit = 100\n",
                      destination=f"{other}/sorted/{{person}}")
        staging = tmp_path / "staging"
        staging.mkdir()
        noise_pngs(staging, 5000)
        with DaemonProcess(config, env={"WATCHDOG_USEC": str(int(WATCHDOG * 1e6))}) as daemon:
            daemon.ready()
            for path in sorted(staging.iterdir()):  # dropped at once, as a sync tool would
                os.rename(path, tmp_path / "inbound" / path.name)
            held = []
            deadline = time.monotonic() + 900
            while (status := daemon.status())["processed"] < 5000:
                held.append(status["queued"] + status["settling"])
                assert time.monotonic() < deadline, status
                time.sleep(0.5)
            rss_kb = int(next(line.split()[1] for line in Path(f"/proc/{daemon.proc.pid}/status")
                              .read_text().splitlines() if line.startswith("VmRSS")))
            assert max(held) <= 100  # the settler and the queue together, bounded by queue_limit
            assert rss_kb < 300_000
            assert len(list((tmp_path / "review").iterdir())) == 5000
            assert list((tmp_path / "inbound").iterdir()) == []

            after = len(daemon.notify.messages)
            kept = other / "sorted" / "kept"
            keep = subprocess.Popen([sys.executable, "-m", "facewatchd.control.ctl", "--config", str(config),
                                     "review", "keep", "--all", "--to", str(kept)],
                                    cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            wait_until(lambda: daemon.status()["tasks"] == ["review.keep"], why="keeping")
            assert daemon.status()["in_review"] < 5000  # and it answers while it works
            _, err = keep.communicate(timeout=900)
            assert keep.returncode == 0, err
            done = time.monotonic()
            assert daemon.status()["in_review"] == 0
            assert len(list(kept.iterdir())) == 5000
            assert daemon.notify.longest_silence("WATCHDOG=1", after, until=done) < 0.75 * WATCHDOG
            assert daemon.stop() == 0


def test_files_arriving_while_the_daemon_is_stopped_are_found(data: Path, tmp_path: Path) -> None:
    need(os.geteuid() == 0, "lowering fs.inotify.max_queued_events needs root")
    config = tree(tmp_path, data)
    knob = Path("/proc/sys/fs/inotify/max_queued_events")
    saved = knob.read_text()
    knob.write_text("64")  # the daemon's inotify instance keeps this small queue
    try:
        daemon = DaemonProcess(config)
        daemon.ready()
    finally:
        knob.write_text(saved)
    with daemon:
        os.kill(daemon.proc.pid, signal.SIGSTOP)
        noise_pngs(tmp_path / "inbound", 300)
        os.kill(daemon.proc.pid, signal.SIGCONT)
        daemon.wait_idle(300)
        assert daemon.stop() == 0
    assert "file events were lost" in daemon.log.read_text()
    assert len(list((tmp_path / "review").iterdir())) == 300


def test_sigterm_finishes_the_files_in_flight_and_exits_0(data: Path, tmp_path: Path) -> None:
    config = tree(tmp_path, data, daemon=SETTLE + "stop_timeout = 120\n")
    with DaemonProcess(config) as daemon:
        daemon.ready()
        clip = data / "video" / "pedestrians_1080p.mp4"
        shutil.copy(clip, tmp_path / "inbound" / "walk1.mp4")
        shutil.copy(data / "video" / "hamilton_clip.mp4", tmp_path / "inbound" / "walk2.mp4")
        wait_until(lambda: daemon.status()["in_flight"] == 2, why=daemon.status)
        workers = children(daemon.proc.pid)
        daemon.proc.send_signal(signal.SIGTERM)
        assert daemon.proc.wait(120) == 0
        assert "STOPPING=1" in daemon.notify.fields()
        assert gone(workers)
        daemon.notify.close()
    for name in ("walk1.mp4", "walk2.mp4"):  # finished, not abandoned
        assert not (tmp_path / "inbound" / name).exists()
        assert sha256(Path(ledger(tmp_path, tmp_path / "inbound" / name)["target"]))


def test_a_second_sigterm_stops_at_once_leaving_files_in_inbound(data: Path, tmp_path: Path) -> None:
    config = tree(tmp_path, data, daemon=SETTLE + "stop_timeout = 300\n")
    clip = tmp_path / "inbound" / "walk.mp4"
    with DaemonProcess(config) as daemon:
        daemon.ready()
        shutil.copy(data / "video" / "pedestrians_1080p.mp4", clip)
        wait_until(lambda: daemon.status()["in_flight"], why=daemon.status)
        workers = children(daemon.proc.pid)
        daemon.proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        started = time.monotonic()
        daemon.proc.send_signal(signal.SIGTERM)
        assert daemon.proc.wait(30) == 0
        assert time.monotonic() - started < 5
        assert gone(workers)
        daemon.notify.close()
    assert sha256(clip) == sha256(data / "video" / "pedestrians_1080p.mp4")
    db = sqlite3.connect(tmp_path / "state" / DB_NAME)
    assert db.execute("SELECT count(*) FROM files WHERE state = 'moving'").fetchone()[0] == 0
    db.close()


@pytest.mark.parametrize("watchdog", [{}, {"WATCHDOG_USEC": "1000000"}], ids=["", "with the watchdog"])
def test_sigterm_stops_the_daemon_when_the_notify_socket_is_gone(data: Path, tmp_path: Path,
                                                                 watchdog: dict[str, str]) -> None:
    # systemd re-executed, or a stale NOTIFY_SOCKET in a container: every sd_notify fails.
    config = tree(tmp_path, data)
    with DaemonProcess(config, env=watchdog) as daemon:
        daemon.ready()
        daemon.notify.close()
        daemon.notify.path.unlink()
        shutil.copy(data / "people" / "Barack_Obama" / "obama2.jpg", tmp_path / "inbound")
        daemon.wait_idle(1)  # STATUS= and watchdog pings into nowhere meanwhile
        started = time.monotonic()
        daemon.proc.send_signal(signal.SIGTERM)
        assert daemon.proc.wait(30) == 0
        assert time.monotonic() - started < 5
    log = daemon.log.read_text()
    assert "Traceback" not in log
    assert log.count("cannot tell systemd") == 1  # said once, not at every ping


def test_a_second_daemon_or_oneshot_on_the_same_state_is_refused(data: Path, tmp_path: Path) -> None:
    config = tree(tmp_path, data)
    with DaemonProcess(config) as daemon:
        daemon.ready()
        result = facewatchd("--config", config, "--oneshot")
        assert result.returncode == 74 and "another facewatchd is using" in result.stderr
        assert daemon.stop() == 0


def test_a_file_that_outlasts_the_time_limit_is_set_aside_in_failed(data: Path, tmp_path: Path) -> None:
    # 64 frames of a 1080p clip: ~1.8 s for 8 on this machine, so many seconds for 64.
    config = tree(tmp_path, data, file_timeout=2.0, video_frames=64)
    with DaemonProcess(config) as daemon:
        daemon.ready()
        shutil.copy(data / "video" / "pedestrians_1080p.mp4", tmp_path / "inbound" / "slow.mp4")
        status = daemon.wait_idle(1)
        assert daemon.stop() == 0
    assert status["failed"] == 1 and status["worker_restarts"] == 1
    row = ledger(tmp_path, tmp_path / "inbound" / "slow.mp4")
    assert row["target"] == str(tmp_path / "review" / "failed" / "slow.mp4")
    assert "longer than 2 s" in json.loads(row["evidence"])["error"]
    assert sha256(Path(row["target"])) == sha256(data / "video" / "pedestrians_1080p.mp4")


def test_a_socket_that_cannot_be_created_is_one_clear_line(data: Path, tmp_path: Path) -> None:
    deep = tmp_path / ("x" * 60) / ("y" * 60)  # longer than a Unix socket address may be
    deep.mkdir(parents=True)
    config = tree(tmp_path, data, socket=str(deep / "ctl.sock"))
    result = facewatchd("--config", config)
    assert result.returncode == 78
    assert "cannot create the control socket" in result.stderr and "Traceback" not in result.stderr


def test_the_periodic_rescan_finds_files_no_event_announced(data: Path, tmp_path: Path) -> None:
    need(os.geteuid() == 0, "a bind mount needs root")
    config = tree(tmp_path, data, daemon=SETTLE + "rescan_interval = 2\n")
    (tmp_path / "inbound" / "share").mkdir()
    elsewhere = tmp_path / "elsewhere"  # like a folder another machine writes over NFS
    elsewhere.mkdir()
    with DaemonProcess(config) as daemon:
        daemon.ready()
        # Over the watched folder: what is written through `elsewhere` raises no event here.
        subprocess.run(["mount", "--bind", str(elsewhere), str(tmp_path / "inbound" / "share")], check=True)
        try:
            time.sleep(2.5)  # past the first periodic rescan: nothing there yet
            shutil.copy(data / "no_faces" / "cat.jpg", elsewhere / "cat.jpg")
            daemon.wait_idle(1, timeout=30)
        finally:
            subprocess.run(["umount", str(tmp_path / "inbound" / "share")], check=True)
        assert daemon.stop() == 0
    assert (tmp_path / "review" / "share" / "cat.jpg").exists()
    assert "periodic rescan" in daemon.log.read_text()


# Found by reading the daemon (issue 11): each of these failed on the daemon before it.


def variants(photo: Path, folder: Path, count: int) -> None:
    """`count` different files of the same picture (bytes after its end differ)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        (folder / f"{photo.stem}-{i:03}{photo.suffix}").write_bytes(photo.read_bytes() + b"%d" % i)


def test_a_reload_during_an_enrollment_is_applied_when_it_ends(data: Path, tmp_path: Path) -> None:
    config = tree(tmp_path, data)
    (tmp_path / "sorted2").mkdir()
    with DaemonProcess(config) as daemon:
        daemon.ready()
        variants(data / "people" / "Barack_Obama" / "obama1.jpg", tmp_path / "references" / "Barack_Obama", 30)
        first = subprocess.Popen([sys.executable, "-m", "facewatchd.control.ctl", "--config", str(config), "reload"],
                                 cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_until(lambda: any("references" in t for t in daemon.status()["tasks"]), why="enrolling")
        # Meanwhile: a new destination and a small queue limit.
        config.write_text(config.read_text().replace('"sorted/{person}"', '"sorted2/{person}"')
                          .replace(SETTLE, SETTLE + "queue_limit = 20\n"))
        second = daemon.ctl("reload")
        out, err = first.communicate(timeout=120)
        assert first.returncode == 0, err
        assert "reloaded" in out and "reloaded" in second.stdout
        assert daemon.status()["references"]["Barack_Obama"] == 32
        processed = daemon.status()["processed"]
        shutil.copy2(data / "people" / "Barack_Obama" / "obama2.jpg", tmp_path / "inbound")
        daemon.wait_idle(processed + 1)
        assert (tmp_path / "sorted2" / "Barack_Obama" / "obama2.jpg").is_file()  # the newest config
        # ...all of it: the queue limit too.
        os.kill(daemon.proc.pid, signal.SIGSTOP)
        noise_pngs(tmp_path / "inbound", 300)
        os.kill(daemon.proc.pid, signal.SIGCONT)
        held = []
        deadline = time.monotonic() + 300
        while (status := daemon.status())["processed"] < processed + 301:
            held.append(status["queued"] + status["settling"])
            assert time.monotonic() < deadline, status
            time.sleep(0.2)
        assert max(held) <= 20
        assert daemon.stop() == 0


def test_a_start_with_10000_reference_photos_extends_the_start_timeout(data: Path, tmp_path: Path) -> None:
    config = tree(tmp_path, data, daemon=SETTLE)
    (tmp_path / "references" / "Crowd").mkdir()
    # Each analysed, none usable: ~0.4 ms each on 2 cores (4,000 made READY wait 2 s).
    noise_pngs(tmp_path / "references" / "Crowd", 10_000)
    watchdog = 2.0  # extensions every second: a start of seconds shows several
    with DaemonProcess(config, env={"WATCHDOG_USEC": str(int(watchdog * 1e6))}) as daemon:
        started = time.monotonic()
        daemon.ready(timeout=600)
        ready_at = daemon.notify.arrivals("READY=1")[0]
        # Before READY, the start-up is extended before each extension runs out (~4 s here:
        # several extensions, one a second).
        assert len(daemon.notify.arrivals("EXTEND_TIMEOUT_USEC=")) >= 2, "too quick to show anything"
        extensions = [started] + daemon.notify.arrivals("EXTEND_TIMEOUT_USEC=")
        budget = min(int(f.split("=")[1]) for f in daemon.notify.fields()
                     if f.startswith("EXTEND_TIMEOUT_USEC=")) / 1e6
        assert max(b - a for a, b in zip(extensions, [*extensions[1:], ready_at], strict=True)) < budget
        time.sleep(2 * watchdog)
        assert daemon.notify.longest_silence("WATCHDOG=1", until=time.monotonic()) < 0.9 * watchdog
        assert daemon.stop() == 0


def test_a_reload_that_replaces_the_pool_while_a_worker_hangs_keeps_the_watchdog_fed(
        data: Path, tmp_path: Path) -> None:
    from .test_faults import busy_worker

    config = tree(tmp_path, data, file_timeout=20.0)
    with DaemonProcess(config, env={"WATCHDOG_USEC": str(int(WATCHDOG * 1e6))}) as daemon:
        daemon.ready()
        after = len(daemon.notify.messages)
        shutil.copy2(data / "video" / "pedestrians_1080p.mp4", tmp_path / "inbound" / "stuck.mp4")
        wait_until(lambda: daemon.status()["in_flight"] == 1, why="analysing")
        time.sleep(0.3)
        hung = busy_worker(daemon.proc.pid)
        os.kill(hung, signal.SIGSTOP)  # a worker hangs on a file
        try:
            config.write_text(config.read_text().replace("file_timeout = 20.0",
                                                         "file_timeout = 20.0\nvideo_frames = 4"))
            started = time.monotonic()
            daemon.ctl("reload")  # new engine settings: a new pool
            assert time.monotonic() - started < 15  # not waiting for the hung worker
            shutil.copy2(data / "people" / "Barack_Obama" / "obama2.jpg", tmp_path / "inbound")
            wait_until(lambda: (tmp_path / "sorted" / "Barack_Obama" / "obama2.jpg").exists(), why="sorted")
            # The hung file is abandoned at its time limit, and set aside.
            wait_until(lambda: (tmp_path / "review" / "failed" / "stuck.mp4").exists(), 60, why="set aside")
        finally:
            try:
                os.kill(hung, signal.SIGCONT)
            except ProcessLookupError:
                pass  # killed as it should have been
        assert daemon.notify.longest_silence("WATCHDOG=1", after, until=time.monotonic()) < 0.75 * WATCHDOG
        assert daemon.stop() == 0


def test_a_review_list_larger_than_any_one_answer_comes_whole(data: Path, tmp_path: Path) -> None:
    config = tree(tmp_path, data)
    deep = tmp_path / "inbound" / "/".join(f"{c * 250}" for c in "abcdefgh")  # ~2 KB paths
    deep.mkdir(parents=True)
    noise_pngs(deep, 1200)
    with DaemonProcess(config) as daemon:
        daemon.ready()
        daemon.wait_idle(1200, timeout=600)
        listed = daemon.ctl("--json", "review", "list")
        assert len(listed.stdout) > 5 << 20  # more than the 4 MiB a client could once get
        items = json.loads(listed.stdout)
        assert len(items) == len({i["id"] for i in items}) == 1200
        page = json.loads(daemon.ctl("--json", "review", "list", "--limit", "7", "--offset", "1190").stdout)
        assert [i["id"] for i in page] == [i["id"] for i in items[1190:1197]]
        assert daemon.stop() == 0


def test_a_client_pipelining_tests_cannot_hold_up_the_inbound_files(running, data: Path) -> None:
    probe = running.root / "sorted" / "cat.jpg"
    shutil.copy2(data / "no_faces" / "cat.jpg", probe)
    processed = running.status()["processed"]
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(str(running.socket))
        sock.settimeout(300)
        sock.sendall(b"".join(protocol.request(i, "test", {"file": str(probe)}) for i in range(200)))
        shutil.copy2(data / "people" / "Kit_Harington" / "john1.jpeg", running.root / "inbound" / "urgent.jpg")
        answered = 0
        with sock.makefile("rb") as answers:
            while running.status()["processed"] == processed:
                assert json.loads(answers.readline())["ok"]
                answered += 1
    assert answered < 100, "the inbound file waited behind the client's requests"


def test_a_client_learns_nothing_of_paths_it_may_not_read(running, data: Path) -> None:
    need(os.geteuid() == 0, "running a client as another user needs root")
    private = running.root / "review" / "private"
    private.mkdir(mode=0o700, parents=True)
    shutil.copy2(data / "no_faces" / "cat.jpg", private / "secret.jpg")
    for path in (private / "secret.jpg", private / "missing.jpg"):
        _, out = raw_call(running.socket, {"v": 1, "id": 1, "cmd": "test", "args": {"file": str(path)}},
                          uid=65534, gid=65534)  # nobody, in the daemon's group
        assert json.loads(out)["error"] == {"code": "not_allowed", "message": f"{path}: you may not read it"}
    readable = running.root / "review" / "open.jpg"
    shutil.copy2(data / "no_faces" / "cat.jpg", readable)
    readable.chmod(0o644)
    folders = [f for f in readable.parents if f != Path("/")]
    modes = {f: f.stat().st_mode for f in folders}
    try:
        for folder in folders:  # a path nobody may follow to a file nobody may read
            folder.chmod(modes[folder] | 0o001)
        _, out = raw_call(running.socket, {"v": 1, "id": 1, "cmd": "test",
                                           "args": {"file": str(readable)}}, uid=65534, gid=65534)
    finally:
        for folder in folders:
            folder.chmod(stat.S_IMODE(modes[folder]))
    assert json.loads(out)["ok"]
