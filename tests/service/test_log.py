"""Logs: journald fields read back from a real systemd-journald, readable lines otherwise."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

from ..helpers import ROOT, need, write_config

JOURNALD = Path("/lib/systemd/systemd-journald")


def test_the_daemon_logs_structured_fields_to_a_real_journald(data: Path, tmp_path: Path) -> None:
    need(os.geteuid() == 0, "a private /run for journald needs root (unshare -m)")
    need(JOURNALD.exists(), f"{JOURNALD} is missing (Debian package systemd)")
    config = write_config(tmp_path, daemon="settle = 0.3\n")
    (tmp_path / "references" / "Barack_Obama").mkdir()
    shutil.copy(data / "people" / "Barack_Obama" / "obama.jpg", tmp_path / "references" / "Barack_Obama")
    shutil.copy(data / "people" / "Barack_Obama" / "obama2.jpg", tmp_path / "photo.jpg")
    script = textwrap.dedent(f"""\
        set -e
        mount -t tmpfs tmpfs /run
        mkdir -p /run/systemd/journal /run/log/journal
        {JOURNALD} &
        journald=$!
        for i in $(seq 100); do [ -S /run/systemd/journal/socket ] && break; sleep 0.1; done
        # As systemd does: stderr connected to the journal is announced as device:inode.
        exec 2>"{tmp_path}/stderr"
        export JOURNAL_STREAM=$(stat -L -c '%d:%i' /proc/self/fd/2)
        cd "{ROOT}"
        "{sys.executable}" -m facewatchd --config "{config}" &
        daemon=$!
        for i in $(seq 300); do [ -S "{tmp_path}/state/facewatchd.sock" ] && break; sleep 0.1; done
        mv "{tmp_path}/photo.jpg" "{tmp_path}/inbound/photo.jpg"
        cp "{data}/no_faces/cat.jpg" "{tmp_path}/inbound/$(printf 'odd-\\377.jpg')"
        for i in $(seq 300); do [ -e "{tmp_path}/sorted/Barack_Obama/photo.jpg" ] && \
            [ -e "{tmp_path}/review/$(printf 'odd-\\377.jpg')" ] && break; sleep 0.1; done
        kill -TERM $daemon
        wait $daemon
        journalctl --directory /run/log/journal -o json --no-pager SYSLOG_IDENTIFIER=facewatchd \\
            > "{tmp_path}/journal.json"
        kill $journald
        """)
    result = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    entries = [json.loads(line) for line in (tmp_path / "journal.json").read_text().splitlines()]
    (sorted_entry,) = [e for e in entries if e.get("FACEWATCH_DECISION") == "sorted"]
    assert sorted_entry["FACEWATCH_PATH"] == str(tmp_path / "inbound" / "photo.jpg")
    assert sorted_entry["FACEWATCH_PERSON"] == "Barack_Obama"
    assert 0 < float(sorted_entry["FACEWATCH_DISTANCE"]) < 0.6
    assert sorted_entry["PRIORITY"] == "6" and "photo.jpg" in sorted_entry["MESSAGE"]
    assert any("ready" in e["MESSAGE"] for e in entries)
    # A name that is not UTF-8 is logged with its odd byte escaped, not dropped.
    (odd,) = [e for e in entries if e.get("FACEWATCH_DECISION") == "review"]
    assert odd["FACEWATCH_PATH"] == f"{tmp_path}/inbound/odd-\\xff.jpg"
    assert (tmp_path / "stderr").read_text() == ""  # all of it went to the journal


def test_in_a_terminal_logs_are_readable_lines(data: Path, tmp_path: Path) -> None:
    config = write_config(tmp_path)
    shutil.copy(data / "no_faces" / "cat.jpg", tmp_path / "inbound")
    result = subprocess.run([sys.executable, "-m", "facewatchd", "--config", str(config), "--oneshot", "-v"],
                            capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert f"facewatchd: INFO: {tmp_path}/inbound/cat.jpg → {tmp_path}/review/cat.jpg" in result.stderr
