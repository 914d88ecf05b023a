"""How far along the daemon is: the backlog, the rate over the last minute and the time
left, in `status` (text and JSON) and in systemd's STATUS=, through a real daemon."""

from __future__ import annotations

import json
import os
import pty
import shutil
import subprocess
import sys
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
        Image.new("RGB", (160, 120), (i * 4 % 256, 100, 150)).save(tmp_path / "inbound" / f"n{i:02d}.jpg")
    return config


def test_oneshot_on_a_terminal_shows_one_live_line_up_to_the_total(tmp_path: Path) -> None:
    config = _inbound(tmp_path, 60)
    main, child = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "facewatchd", "--config", str(config), "--oneshot",
                             "--log", "stderr"], stdin=child, stdout=child, stderr=child, cwd=ROOT)
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
    assert proc.wait(120) == 0
    os.close(main)
    text = out.decode(errors="replace")
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
