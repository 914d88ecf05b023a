"""How far along the daemon is: the backlog, the rate over the last minute and the time
left, in `status` (text and JSON) and in systemd's STATUS=, through a real daemon."""

from __future__ import annotations

import json
import os
import pty
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

from PIL import Image

from ..helpers import ROOT, DaemonProcess, facewatchd, tree, write_config

PHOTOS = 24


def test_status_says_how_many_wait_how_fast_they_go_and_the_time_left(data: Path, tmp_path: Path) -> None:
    config = tree(tmp_path, data, daemon="settle = 0.3\npaused = true\n")
    face = Image.open(data / "people" / "Barack_Obama" / "obama2.jpg").convert("RGB")
    with DaemonProcess(config) as daemon:
        daemon.ready()
        for i in range(PHOTOS):  # distinct photos, each to be analysed
            canvas = Image.new("RGB", (900, 1300), (10 * i, 120, 200))
            canvas.paste(face, (100 + 10 * i, 50))
            canvas.save(tmp_path / "inbound" / f"p{i:02d}.jpg", quality=90)
        deadline = time.monotonic() + 30
        while (status := daemon.status())["backlog"] < PHOTOS:
            assert time.monotonic() < deadline, status
            time.sleep(0.2)
        assert (status["rate"], status["eta_s"]) == (0, None)  # paused: nothing moves
        daemon.ctl("resume")
        seen, texts = [], []
        deadline = time.monotonic() + 300
        while (status := daemon.status())["processed"] < PHOTOS:
            assert time.monotonic() < deadline, status
            if status["processed"] >= 2 and status["backlog"]:
                seen.append(status)
                texts.append(daemon.ctl("status").stdout)
            time.sleep(0.1)
        assert seen, "the backlog drained before it was looked at"
        moving = seen[-1]
        assert moving["rate"] > 0 and moving["eta_s"] is not None and moving["eta_s"] >= 0, moving
        assert any("files/s over the last minute, about" in t for t in texts), texts
        assert any("files/s" in m and "left" in m for m in daemon.notify.messages), "no STATUS= with the rate"
        done = daemon.status()
        assert done["backlog"] == 0 and done["eta_s"] is None and done["rate"] > 0
        assert json.loads(daemon.ctl("--json", "status").stdout)["rate"] > 0
        assert daemon.stop() == 0


def _inbound(tmp_path: Path, count: int) -> Path:
    config = write_config(tmp_path)
    for i in range(count):  # distinct little pictures: quick to analyse, each a file to sort
        Image.new("RGB", (160, 120), (i * 4 % 256, i // 64, 150)).save(tmp_path / "inbound" / f"n{i:02d}.jpg")
    return config


def on_a_terminal(argv: list[str | Path], timeout: float = 300) -> str:
    """What `argv` writes on a pseudo-terminal (stdout and stderr), once it has ended
    with status 0."""
    main, child = pty.openpty()
    proc = subprocess.Popen([str(a) for a in argv], stdin=child, stdout=child, stderr=child, cwd=ROOT)
    os.close(child)
    out = b""
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # EIO: the child's side closed
            break
        if not chunk:
            break
        out += chunk
    assert proc.wait(timeout) == 0, out.decode(errors="replace")[-2000:]
    os.close(main)
    return out.decode(errors="replace")


def test_oneshot_on_a_terminal_shows_one_live_line_up_to_the_total(tmp_path: Path) -> None:
    config = _inbound(tmp_path, 60)
    text = on_a_terminal([sys.executable, "-m", "facewatchd", "--config", config, "--oneshot", "--log", "stderr"], 120)
    assert "60/60" in text and "files/s" in text and "60 to review" in text, text[-2000:]
    assert "\r" in text  # redrawn in place
    assert text.count(" → ") <= 3, text[-2000:]  # no line per file
    assert "handled 60 files" in text


def test_oneshot_into_a_pipe_writes_plain_lines_and_with_v_every_file(tmp_path: Path) -> None:
    config = _inbound(tmp_path, 12)
    result = facewatchd("--oneshot", "--config", config, "--log", "stderr")
    assert result.returncode == 0, result.stderr
    assert "\r" not in result.stdout + result.stderr and "\x1b" not in result.stdout + result.stderr
    assert "handled 12 files" in result.stdout and " → " not in result.stderr
    for photo in (tmp_path / "review").iterdir():
        photo.rename(tmp_path / "inbound" / photo.name)
    shutil.rmtree(tmp_path / "state")
    verbose = facewatchd("--oneshot", "-v", "--config", config, "--log", "stderr")
    assert verbose.returncode == 0 and verbose.stderr.count(" → ") == 12, verbose.stderr


def _portraits(data: Path, folder: Path, count: int) -> list[Path]:
    """`count` distinct photos of one face, each to be analysed."""
    folder.mkdir(parents=True, exist_ok=True)
    face = Image.open(data / "people" / "Barack_Obama" / "obama2.jpg").convert("RGB")
    photos = []
    for i in range(count):
        canvas = Image.new("RGB", (1300, 900), (6 * i % 256, 120, 200))
        canvas.paste(face, (100 + 12 * i, 60))
        photos.append(folder / f"p{i:02d}.jpg")
        canvas.save(photos[-1], quality=90)
    return photos


def test_enroll_on_a_terminal_shows_how_far_the_daemon_has_got(data: Path, tmp_path: Path) -> None:
    config = tree(tmp_path, data)
    photos = _portraits(data, tmp_path / "sorted" / "new", PHOTOS)  # a folder it may read
    with DaemonProcess(config) as daemon:
        daemon.ready()
        out: list[str] = []
        run = threading.Thread(target=lambda: out.append(on_a_terminal(
            [sys.executable, "-m", "facewatchd.control.ctl", "--config", config, "enroll", "Barack_Obama", *photos])))
        run.start()
        jobs, texts = [], []
        while run.is_alive():
            jobs += [j for j in daemon.status()["jobs"] if j["name"] == "enroll"]
            texts.append(daemon.ctl("status").stdout)
            time.sleep(0.2)
        run.join()
        assert jobs and all(j["total"] == PHOTOS for j in jobs), jobs
        assert any("  enroll: " in t and f" of {PHOTOS}" in t for t in texts), texts
        assert jobs[-1]["done"] >= jobs[0]["done"]
        (text,) = out
        assert "enroll: 100%" in text and f"{PHOTOS}/{PHOTOS}" in text and "\r" in text, text[-2000:]
        assert text.count("added reference") == PHOTOS, text[-2000:]
        # Into a pipe: the answer alone.
        piped = daemon.ctl("undo", "--since", "1h", "--dry-run")
        assert "\r" not in piped.stdout + piped.stderr and "\x1b" not in piped.stdout + piped.stderr
        assert daemon.stop() == 0


def test_the_start_up_enrolment_says_how_far_it_has_got(data: Path, tmp_path: Path) -> None:
    config = tree(tmp_path, data)
    _portraits(data, tmp_path / "references" / "Barack_Obama", 2 * PHOTOS)
    with DaemonProcess(config) as daemon:
        daemon.ready(300)
        said = [m for m in daemon.notify.fields() if m.startswith("STATUS=") and "references (start): " in m]
        assert said and any(f" of {2 * PHOTOS + 5}" in m for m in said), daemon.notify.messages
        assert daemon.stop() == 0


def test_undo_of_many_files_on_a_terminal_shows_how_far_it_has_got(tmp_path: Path) -> None:
    count = 1000  # long enough an undo to be seen under way
    config = _inbound(tmp_path, count)
    with DaemonProcess(config) as daemon:
        daemon.ready()
        daemon.wait_idle(count)
        text = on_a_terminal([sys.executable, "-m", "facewatchd.control.ctl", "--config", config,
                              "undo", "--since", "1h"])
        assert f"{count}/{count}" in text, text[-2000:]
        assert daemon.stop() == 0


def test_scan_on_a_terminal_shows_the_files_sorted_of_those_found(tmp_path: Path) -> None:
    count = 80
    config = write_config(tmp_path, daemon="settle = 0.3\npaused = true\n")  # they wait unread
    with DaemonProcess(config) as daemon:
        daemon.ready()
        for i in range(count):
            Image.new("RGB", (160, 120), (i * 3 % 256, 90, 150)).save(tmp_path / "inbound" / f"s{i:02d}.jpg")
        daemon.ctl("resume")
        text = on_a_terminal([sys.executable, "-m", "facewatchd.control.ctl", "--config", config, "scan"])
        assert "scan:" in text and "\r" in text, text[-2000:]
        assert daemon.status()["processed"] == count
        assert daemon.stop() == 0
