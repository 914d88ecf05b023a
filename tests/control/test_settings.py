"""Settings changed at run time, pausing and statistics, through a real daemon and
facewatchctl: refused by the file's own rules, used at once, kept across restarts."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import pytest

from ..helpers import SETTLE, DaemonProcess, files_under, sha256, tree, wait_until


def ctl_json(daemon: DaemonProcess, *args: str | Path) -> object:
    return json.loads(daemon.ctl("--json", *args).stdout)


def setting(daemon: DaemonProcess, key: str) -> dict:
    (row,) = [r for r in ctl_json(daemon, "settings") if r["key"] == key]
    return row


def drop(daemon: DaemonProcess, photo: Path, name: str) -> None:
    processed = daemon.status()["processed"]
    shutil.copy2(photo, daemon.config.parent / "inbound" / name)
    daemon.wait_idle(processed + 1)


@pytest.fixture
def config(data: Path, tmp_path: Path) -> Path:
    # The file sets its own tolerance, so that `unset` has a value of the file's to go back to.
    return tree(tmp_path, data, daemon=SETTLE + "rescan_interval = 1\n", tolerance=0.55)


def test_a_bad_value_is_refused_with_the_files_rule_and_nothing_changes(config: Path) -> None:
    with DaemonProcess(config) as daemon:
        daemon.ready()
        refused = daemon.ctl("set", "recognition.tolerance", "7", check=False)
        assert refused.returncode == 64
        assert "[recognition] tolerance: must be between 0 and 1, got 7" in refused.stderr
        assert "nothing changed" in refused.stderr
        assert setting(daemon, "recognition.tolerance") == {
            "key": "recognition.tolerance", "value": 0.55, "source": "file", "actor": None, "at": None,
            "live": True}
        for key, value, said in [("recognition.tolernce", "1", "has no key 'tolernce'"),
                                 ("daemon.socket", "/tmp/x.sock", "read at start only"),
                                 ("watch.2.review", "/tmp", "no [[watch]] #2"),
                                 ("cluster.batch", "2", "read at start only"),
                                 ("recognition.model", "fast", "must be one of 'hog', 'cnn'")]:
            refused = daemon.ctl("set", key, value, check=False)
            assert refused.returncode == 64 and said in refused.stderr, (key, refused.stderr)
        assert daemon.status()["last_error"] is None or "Traceback" not in daemon.log.read_text()
        assert daemon.stop() == 0


def test_a_setting_is_used_at_once_kept_across_a_restart_and_unset_to_the_files(
        config: Path, data: Path) -> None:
    probe = config.parent / "sorted" / "probe.jpg"  # not in inbound: `test` only
    shutil.copy2(data / "people" / "Barack_Obama" / "obama2.jpg", probe)
    with DaemonProcess(config) as daemon:
        daemon.ready()
        changed = ctl_json(daemon, "set", "recognition.tolerance", "0.58")
        assert changed["value"] == 0.58 and changed["source"] == "runtime" and changed["actor"] == "root"
        assert [f["tolerance"] for f in ctl_json(daemon, "test", probe)["faces"]] == [0.58]
        ctl_json(daemon, "set", "persons.Joe_Biden.tolerance", "0.5")
        assert setting(daemon, "persons.Joe_Biden.tolerance")["value"] == 0.5
        assert "set by root" in daemon.ctl("settings").stdout
        assert daemon.stop() == 0
    with DaemonProcess(config) as daemon:
        daemon.ready()
        assert setting(daemon, "recognition.tolerance")["source"] == "runtime"
        assert [f["tolerance"] for f in ctl_json(daemon, "test", probe)["faces"]] == [0.58]
        back = ctl_json(daemon, "unset", "recognition.tolerance")
        assert (back["value"], back["source"]) == (0.55, "file")
        assert [f["tolerance"] for f in ctl_json(daemon, "test", probe)["faces"]] == [0.55]
        again = daemon.ctl("unset", "recognition.tolerance", check=False)
        assert again.returncode == 66 and "not changed at run time" in again.stderr
        assert daemon.stop() == 0


def test_a_new_review_folder_takes_the_next_files_and_the_queue_keeps_the_old(
        config: Path, data: Path, tmp_path: Path) -> None:
    with DaemonProcess(config) as daemon:
        daemon.ready()
        drop(daemon, data / "no_faces" / "cat.jpg", "cat.jpg")
        (old,) = ctl_json(daemon, "review", "list")
        assert Path(old["path"]) == tmp_path / "review" / "cat.jpg"
        elsewhere = tmp_path / "review2"
        ctl_json(daemon, "set", "watch.1.review", str(elsewhere))
        drop(daemon, data / "no_faces" / "dogs.jpg", "dogs.jpg")
        assert (elsewhere / "dogs.jpg").is_file()
        listed = {Path(i["path"]).name: i for i in ctl_json(daemon, "review", "list")}
        assert Path(listed["cat.jpg"]["path"]) == tmp_path / "review" / "cat.jpg"  # stays listed there
        served = ctl_json(daemon, "review", "file", str(old["id"]))  # the page can still show it
        assert served["size"] == (data / "no_faces" / "cat.jpg").stat().st_size
        deleted = ctl_json(daemon, "review", "delete", str(old["id"]))["results"][0]
        assert deleted["path"] == str(tmp_path / "review" / "trash" / "cat.jpg")  # its own trash
        restored = ctl_json(daemon, "review", "restore", str(old["id"]))["results"][0]
        assert restored["path"] == old["path"]
        assert daemon.stop() == 0


def test_paused_files_wait_in_inbound_across_a_restart_until_resumed(config: Path, data: Path) -> None:
    inbound = config.parent / "inbound"
    photo = data / "people" / "Barack_Obama" / "obama2.jpg"
    with DaemonProcess(config) as daemon:
        daemon.ready()
        assert daemon.ctl("pause").stdout.strip() == "paused: new files wait in inbound"
        shutil.copy2(photo, inbound / "obama.jpg")
        wait_until(lambda: daemon.status()["queued"] == 1, why=daemon.status)
        status = daemon.status()
        assert status["paused"] and status["processed"] == 0 and status["in_flight"] == 0
        assert "PAUSED" in daemon.ctl("status").stdout
        assert any(m.startswith("STATUS=PAUSED") for m in daemon.notify.fields())
        assert daemon.stop() == 0
    with DaemonProcess(config) as daemon:
        daemon.ready()
        wait_until(lambda: daemon.status()["queued"] == 1, why=daemon.status)
        assert daemon.status()["paused"] and sha256(inbound / "obama.jpg") == sha256(photo)
        assert daemon.ctl("resume").stdout.strip() == "sorting"
        wait_until(lambda: not files_under(inbound), why=daemon.status)
        assert (config.parent / "sorted" / "Barack_Obama" / "obama.jpg").is_file()
        assert not daemon.status()["paused"]
        assert setting(daemon, "daemon.paused")["source"] == "default"  # back to the file's
        assert daemon.stop() == 0


def test_todays_statistics_are_kept_across_a_restart(config: Path, data: Path) -> None:
    with DaemonProcess(config) as daemon:
        daemon.ready()
        drop(daemon, data / "people" / "Barack_Obama" / "obama2.jpg", "obama.jpg")
        drop(daemon, data / "no_faces" / "cat.jpg", "cat.jpg")
        (item,) = ctl_json(daemon, "review", "list")
        daemon.ctl("review", "keep", str(item["id"]), "--to", config.parent / "sorted" / "Pets")
        assert daemon.stop() == 0
    with DaemonProcess(config) as daemon:
        daemon.ready()
        days = ctl_json(daemon, "stats", "--days", "3")["days"]
        assert [d["day"] for d in days][-1] == date.today().isoformat() and len(days) == 3
        today = days[-1]
        assert today["sorted"] == {"Barack_Obama": 1} and today["review"] == {"no_face": 1}
        assert (today["to_people"], today["to_review"], today["actions"]["kept"]) == (1, 1, 1)
        assert today["match_rate"] == 0.5 and today["queue"] == 0
        text = daemon.ctl("stats").stdout
        assert "to people: Barack_Obama 1" in text and "no face 1" in text
        assert daemon.stop() == 0
