"""Undo: parsing times, and putting files back through a real daemon."""

from __future__ import annotations

import json
import os
import shutil
import time
from datetime import datetime
from pathlib import Path

import pytest

from facewatchd.errors import UsageError
from facewatchd.files.undo import parse_since

from ..helpers import DaemonProcess, serving

NOW = datetime(2026, 11, 22, 15, 30).timestamp()


@pytest.mark.parametrize("text, expected", [
    ("30m", NOW - 1800), ("2h", NOW - 7200), ("1.5d", NOW - 1.5 * 86400), ("45s", NOW - 45),
    ("10:00", datetime(2026, 11, 22, 10, 0).timestamp()),
    ("2026-11-21 08:15", datetime(2026, 11, 21, 8, 15).timestamp()),
    ("2026-11-21T08:15:30", datetime(2026, 11, 21, 8, 15, 30).timestamp()),
])
def test_since_takes_durations_clock_times_and_dates(text: str, expected: float) -> None:
    assert parse_since(text, NOW) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["yesterday", "", "5 parsecs", "25:99"])
def test_anything_else_is_refused_with_the_accepted_forms(text: str) -> None:
    with pytest.raises(UsageError, match="30m, 2h"):
        parse_since(text, NOW)


# Undo end to end: a real daemon, real photos, facewatchctl.


@pytest.fixture(scope="module")
def daemon(data: Path, tmp_path_factory: pytest.TempPathFactory):
    with serving(tmp_path_factory.mktemp("undo"), data) as running:
        yield running


def drop(daemon: DaemonProcess, name: str, photo: str) -> Path:
    processed = daemon.status()["processed"]
    shutil.copy2(daemon.data / photo, daemon.root / "inbound" / name)
    daemon.wait_idle(processed + 1)
    return daemon.root / "inbound" / name


def undo(daemon: DaemonProcess, *args: str | Path, check: bool = True) -> list[dict]:
    return json.loads(daemon.ctl("--json", "undo", *args, check=check).stdout)["results"]


def test_a_sorted_file_goes_back_to_inbound_and_waits_there_until_touched(daemon) -> None:
    source = drop(daemon, "small.jpg", "people/Barack_Obama/obama_small.jpg")
    sorted_to = daemon.root / "sorted" / "Barack_Obama" / "small.jpg"
    assert sorted_to.is_file() and not source.exists()
    (back,) = undo(daemon, sorted_to)
    assert back["ok"] and back["to"] == str(source) and not sorted_to.exists()
    processed = daemon.status()["processed"]
    daemon.ctl("scan")  # not sorted again: that would only redo what was undone
    assert source.is_file() and daemon.status()["processed"] == processed
    os.utime(source)  # touched: sorted at the next scan
    daemon.ctl("scan")
    daemon.wait_idle(processed + 1)
    assert sorted_to.is_file() and not source.exists()


def test_a_kept_item_goes_back_to_review_as_the_same_item(daemon) -> None:
    drop(daemon, "cat.jpg", "no_faces/cat.jpg")
    (item,) = [i for i in json.loads(daemon.ctl("--json", "review", "list").stdout)
               if Path(i["source"]).name == "cat.jpg"]
    daemon.ctl("review", "keep", str(item["id"]), "--to", daemon.root / "sorted" / "Pets")
    (back,) = undo(daemon, daemon.root / "sorted" / "Pets" / "cat.jpg")
    assert back["to"] == item["path"]
    (again,) = [i for i in json.loads(daemon.ctl("--json", "review", "list").stdout)
                if Path(i["source"]).name == "cat.jpg"]
    assert (again["id"], again["reason"], again["path"]) == (item["id"], "no_face", item["path"])


def test_undo_since_takes_back_what_was_taught_and_everything_it_filed(daemon) -> None:
    drop(daemon, "alex1.png", "people/Alex_Lacamoire/alex-lacamoire.png")
    drop(daemon, "alex2.jpg", "people/Alex_Lacamoire/img1.jpg")
    items = {Path(i["source"]).name: i for i in json.loads(daemon.ctl("--json", "review", "list").stdout)}
    since = time.time()
    time.sleep(1.1)  # --since takes whole seconds
    taught = json.loads(daemon.ctl("--json", "review", "add-reference", str(items["alex1.png"]["id"]),
                                   "--person", "Alex_Lacamoire").stdout)
    assert [m["id"] for m in taught["filed"]] == [items["alex2.jpg"]["id"]]
    assert daemon.status()["references"]["Alex_Lacamoire"] == 1
    results = undo(daemon, "--since", time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(since + 1)))
    assert len(results) == 2 and all(r["ok"] for r in results)
    assert "Alex_Lacamoire" not in daemon.status()["references"]  # the reference is disabled
    after = {Path(i["source"]).name: i for i in json.loads(daemon.ctl("--json", "review", "list").stdout)}
    for name in ("alex1.png", "alex2.jpg"):
        assert (after[name]["id"], after[name]["path"]) == (items[name]["id"], items[name]["path"])
    assert not list((daemon.root / "sorted").glob("Alex_Lacamoire/*"))


def test_undo_never_overwrites_and_never_moves_a_changed_file(daemon) -> None:
    drop(daemon, "biden.jpg", "people/Joe_Biden/biden2.jpg")
    sorted_to = daemon.root / "sorted" / "Joe_Biden" / "biden.jpg"
    newcomer = daemon.root / "inbound" / "biden.jpg"
    newcomer.write_bytes(b"another file took the name")  # not a photo: stays in inbound
    (back,) = undo(daemon, sorted_to)
    assert back["to"] == str(daemon.root / "inbound" / "biden_1.jpg")
    assert newcomer.read_bytes() == b"another file took the name"
    newcomer.unlink()

    drop(daemon, "kit.jpg", "people/Kit_Harington/johnsnow_test1.jpg")
    kit = daemon.root / "sorted" / "Kit_Harington" / "kit.jpg"
    kit.write_bytes(kit.read_bytes() + b"edited since")
    refused = daemon.ctl("undo", kit, check=False)
    assert refused.returncode == 73 and "not the file the ledger put there" in refused.stderr
    assert kit.is_file()


def test_held_files_are_shown_and_released_to_be_sorted_again(daemon) -> None:
    source = drop(daemon, "held.jpg", "people/Kit_Harington/john2.jpeg")
    sorted_to = daemon.root / "sorted" / "Kit_Harington" / "held.jpg"
    held_before = daemon.status()["held"]
    undo(daemon, sorted_to)
    assert daemon.status()["held"] == held_before + 1
    assert "held after an undo (facewatchctl held)" in daemon.ctl("status").stdout
    listed = json.loads(daemon.ctl("--json", "held").stdout)
    assert str(source) in [h["path"] for h in listed]
    processed = daemon.status()["processed"]
    released = daemon.ctl("release", source).stdout
    assert f"released {source}" in released
    daemon.wait_idle(processed + 1)
    assert sorted_to.is_file() and daemon.status()["held"] == held_before
    why = daemon.ctl("why", sorted_to).stdout
    assert "matched" in why


def test_a_dry_run_says_what_would_move_and_moves_nothing(daemon) -> None:
    since = time.time()
    time.sleep(1.1)
    drop(daemon, "dry.jpg", "people/Joe_Biden/biden.jpg")
    sorted_to = daemon.root / "sorted" / "Joe_Biden" / "dry.jpg"
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(since + 1))
    answer = json.loads(daemon.ctl("--json", "undo", "--since", stamp, "--dry-run").stdout)
    assert answer["dry_run"] and [r["to"] for r in answer["results"]] == [str(daemon.root / "inbound" / "dry.jpg")]
    assert sorted_to.is_file()  # nothing moved
    text = daemon.ctl("undo", "--since", stamp, "--dry-run").stdout
    assert f"would go to {daemon.root / 'inbound' / 'dry.jpg'}" in text and "nothing moved" in text
