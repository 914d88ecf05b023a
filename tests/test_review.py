"""The review queue end to end: a real daemon, real photos and models, facewatchctl.

The tests run in order on one daemon, as a person clearing a queue would: look,
name a cluster, teach, keep, delete, restore, undo, and print a contact sheet. At
the end every byte that went in is still somewhere, exactly once.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from .helpers import DaemonProcess, files_under, need, sha256
from .test_daemon import SETTLE, tree

SIMM = "John_Simm"


def ctl_json(daemon: DaemonProcess, *args: str | Path) -> object:
    return json.loads(daemon.ctl("--json", *args).stdout)


def by_source(daemon: DaemonProcess) -> dict[str, dict]:
    """The review queue, keyed by the file's name when it arrived."""
    return {Path(item["source"]).name: item for item in ctl_json(daemon, "review", "list")}


@pytest.fixture(scope="module")
def queue(data: Path, tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("review")
    config = tree(root, data, daemon=SETTLE)
    inbound = root / "inbound"
    simm = sorted((data / "people" / SIMM).iterdir())
    (inbound / "simm").mkdir()
    for photo in simm[:5]:
        shutil.copy2(photo, inbound / "simm" / photo.name)
    for name in ("img1.jpg", "img2.jpg"):
        shutil.copy2(data / "people" / "Rose_Leslie" / name, inbound / f"rose_{name}")
    shutil.copy2(data / "no_faces" / "cat.jpg", inbound / "cat.jpg")
    shutil.copy2(data / "groups" / "voc_2009_004587.jpg", inbound / "pair.jpg")
    shutil.copy2(data / "people" / "Barack_Obama" / "obama2.jpg", inbound / "obama2.jpg")
    (inbound / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a picture")
    dropped = Counter(sha256(p) for p in files_under(inbound))
    with DaemonProcess(config) as daemon:
        daemon.ready()
        daemon.wait_idle(sum(dropped.values()))
        # The same photo again, once the first copy is sorted: a duplicate.
        shutil.copy2(data / "people" / "Barack_Obama" / "obama2.jpg", inbound / "again.jpg")
        dropped[sha256(inbound / "again.jpg")] += 1
        daemon.wait_idle(sum(dropped.values()))
        daemon.root, daemon.data, daemon.dropped, daemon.simm = root, data, dropped, simm
        yield daemon
        assert daemon.stop() == 0


def test_unknown_people_no_faces_duplicates_and_bad_files_land_in_review(queue) -> None:
    items = by_source(queue)
    assert {name: items[name]["reason"] for name in items} == {
        **{p.name: "unknown_face" for p in queue.simm[:5]},
        "rose_img1.jpg": "unknown_face", "rose_img2.jpg": "unknown_face",
        "pair.jpg": "unknown_face", "cat.jpg": "no_face", "broken.jpg": "failed",
        "again.jpg": "duplicate"}
    assert items["pair.jpg"]["faces"] == 2 and items["cat.jpg"]["faces"] == 0
    rose = items["rose_img1.jpg"]
    assert rose["person"] in ("Barack_Obama", "Joe_Biden", "Kit_Harington") and rose["distance"] > 0.6
    assert Path(items["broken.jpg"]["path"]) == queue.root / "review" / "failed" / "broken.jpg"
    only = ctl_json(queue, "review", "list", "--reason", "no_face")
    assert [Path(i["path"]).name for i in only] == ["cat.jpg"]
    assert len(ctl_json(queue, "review", "list", "--limit", "2")) == 2
    text = queue.ctl("review", "list").stdout
    assert "unknown face" in text and "cat.jpg" in text
    assert queue.status()["in_review"] == 11
    assert "in review: 11" in queue.ctl("status").stdout


def test_a_strangers_cluster_is_found_named_and_filed(queue) -> None:
    items = by_source(queue)
    simm_ids = {items[p.name]["id"] for p in queue.simm[:5]}
    clusters = ctl_json(queue, "clusters")
    assert clusters, "no cluster found"
    biggest = clusters[0]
    assert set(biggest["items"]) <= simm_ids and biggest["size"] >= 3
    assert all(not set(c["items"]) & simm_ids for c in clusters[1:])  # one cluster for him
    named = ctl_json(queue, "clusters", "name", str(biggest["id"]), SIMM)
    assert named["references"] == biggest["size"]
    # Every photo of him leaves review, those outside the cluster too.
    left = by_source(queue)
    assert not {p.name for p in queue.simm[:5]} & set(left)
    for photo in queue.simm[:5]:
        assert (queue.root / "sorted" / SIMM / "simm" / photo.name).is_file()
    assert ctl_json(queue, "persons")[-1]["name"] == SIMM or SIMM in queue.status()["references"]
    # And the next photo of him goes straight to his folder.
    processed = queue.status()["processed"]
    shutil.copy2(queue.simm[5], queue.root / "inbound" / queue.simm[5].name)
    queue.dropped[sha256(queue.simm[5])] += 1
    queue.wait_idle(processed + 1)
    assert (queue.root / "sorted" / SIMM / queue.simm[5].name).is_file()


def test_teaching_one_photo_files_the_others_of_that_person(queue) -> None:
    items = by_source(queue)
    pair = items["pair.jpg"]
    refused = queue.ctl("review", "add-reference", str(pair["id"]), "--person", "Someone", check=False)
    assert refused.returncode == 65 and "--face 1..2" in refused.stdout
    assert by_source(queue)["pair.jpg"]["id"] == pair["id"]  # still there, nothing learnt
    assert "Someone" not in queue.status()["references"]

    queue.since_teaching = time.time()
    time.sleep(0.05)
    taught = ctl_json(queue, "review", "add-reference", str(items["rose_img1.jpg"]["id"]),
                      "--person", "Rose_Leslie")
    assert taught[0]["ok"] and taught[0]["reference"]
    assert (queue.root / "sorted" / "Rose_Leslie" / "rose_img1.jpg").is_file()
    # Her other photo leaves review on its own, and the ledger says why.
    assert (queue.root / "sorted" / "Rose_Leslie" / "rose_img2.jpg").is_file()
    why = queue.ctl("why", queue.root / "sorted" / "Rose_Leslie" / "rose_img2.jpg").stdout
    assert "after the references changed" in why


def test_keep_delete_and_restore_round_trip_without_losing_a_byte(queue) -> None:
    items = by_source(queue)
    cat, broken = items["cat.jpg"], items["broken.jpg"]
    queue.cat_id = cat["id"]
    outside = queue.ctl("review", "keep", str(cat["id"]), "--to", "/etc", check=False)
    assert outside.returncode == 65 and "not inside" in outside.stdout
    kept = ctl_json(queue, "review", "keep", str(cat["id"]), "--to", queue.root / "sorted" / "Pets")
    assert kept == [{"id": cat["id"], "ok": True, "path": str(queue.root / "sorted" / "Pets" / "cat.jpg")}]
    assert sha256(queue.root / "sorted" / "Pets" / "cat.jpg") == sha256(queue.data / "no_faces" / "cat.jpg")

    result = queue.ctl("--json", "review", "delete", str(broken["id"]), "999999", check=False)
    deleted = json.loads(result.stdout)
    assert result.returncode == 65 and deleted[0]["ok"]
    assert deleted[1] == {"id": 999999, "ok": False, "error": "no item 999999 in review"}
    assert (queue.root / "review" / "trash" / "broken.jpg").is_file()
    assert "broken.jpg" not in by_source(queue)
    trash = ctl_json(queue, "review", "list", "--deleted")
    assert [t["id"] for t in trash] == [broken["id"]] and trash[0]["deleted"]
    restored = ctl_json(queue, "review", "restore", str(broken["id"]))
    assert restored[0]["path"] == str(queue.root / "review" / "failed" / "broken.jpg")
    assert by_source(queue)["broken.jpg"]["id"] == broken["id"]  # the same item again
    assert queue.ctl("review", "delete", "--all", "--reason", "failed").returncode == 0
    assert not any(i["reason"] == "failed" for i in by_source(queue).values())


def test_undo_puts_files_back_and_takes_back_what_was_taught(queue) -> None:
    cat_path = queue.root / "sorted" / "Pets" / "cat.jpg"
    undone = ctl_json(queue, "undo", cat_path)
    assert undone[0]["ok"] and undone[0]["to"] == str(queue.root / "review" / "cat.jpg")
    cat = by_source(queue)["cat.jpg"]
    assert (cat["id"], cat["reason"]) == (queue.cat_id, "no_face")  # the item it was

    # Undo the teaching: both Rose photos back in review, her reference disabled.
    ctl_json(queue, "undo", "--since", time.strftime("%Y-%m-%d %H:%M:%S",
                                                     time.localtime(queue.since_teaching)))
    items = by_source(queue)
    assert {"rose_img1.jpg", "rose_img2.jpg"} <= set(items)
    assert "Rose_Leslie" not in queue.status()["references"]
    assert Path(items["cat.jpg"]["path"]).name == "cat.jpg"  # an undo is not undone again

    # A file the daemon sorted goes back to inbound and stays there, until touched.
    obama = queue.root / "sorted" / "Barack_Obama" / "obama2.jpg"
    back = ctl_json(queue, "undo", obama)[0]
    assert back["to"] == str(queue.root / "inbound" / "obama2.jpg") and not obama.exists()
    queue.ctl("scan")
    assert (queue.root / "inbound" / "obama2.jpg").is_file()
    processed = queue.status()["processed"]
    os.utime(queue.root / "inbound" / "obama2.jpg")  # touched: sorted at the next scan
    queue.ctl("scan")
    queue.wait_idle(processed + 1)
    assert obama.is_file()


def test_the_contact_sheet_shows_thumbnails_with_face_boxes(queue, tmp_path: Path) -> None:
    need(shutil.which("chromium") is not None, "Debian's chromium is not installed")
    sheet = tmp_path / "sheet.html"
    result = queue.ctl("review", "sheet", sheet)
    assert "items" in result.stdout
    html = sheet.read_text()
    items = ctl_json(queue, "review", "list")
    assert html.count("<figure") == len(items) and html.count("data:image/jpeg;base64,") >= len(items) - 1
    shot = tmp_path / "sheet.png"
    subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
                    "--window-size=1100,1400", f"--screenshot={shot}", sheet.as_uri()],
                   check=True, capture_output=True, timeout=120)
    image = Image.open(shot).convert("RGB")
    colours = image.getcolors(maxcolors=1 << 20)
    # Photographs bring thousands of colours; an empty page or broken images do not.
    assert len(colours) > 5000
    orange = sum(n for n, c in colours if c[0] > 230 and 100 < c[1] < 150 and c[2] < 40)
    assert orange > 200, "no face boxes drawn"


def test_a_photo_added_to_the_references_folder_is_learnt_and_the_queue_rechecked(queue) -> None:
    assert {"rose_img1.jpg", "rose_img2.jpg"} <= set(by_source(queue))
    folder = queue.root / "references" / "Rose_Leslie"
    folder.mkdir()
    shutil.copy2(queue.data / "formats" / "rose_leslie_exif_orientation6.jpg", folder / "rose.jpg")
    deadline = time.monotonic() + 60
    while {"rose_img1.jpg", "rose_img2.jpg"} & set(by_source(queue)):
        assert time.monotonic() < deadline, "the review queue was not re-checked"
        time.sleep(0.3)
    assert queue.status()["references"]["Rose_Leslie"] == 1
    assert (queue.root / "sorted" / "Rose_Leslie" / "rose_img2.jpg").is_file()


def test_no_byte_was_lost_on_the_way(queue) -> None:
    root = queue.root
    found: Counter[str] = Counter()
    inodes = set()
    for path in files_under(root / "inbound", root / "sorted", root / "review"):
        st = path.stat()
        if (st.st_dev, st.st_ino) not in inodes:  # a hard link is one file under two names
            inodes.add((st.st_dev, st.st_ino))
            found[sha256(path)] += 1
    assert found == queue.dropped
    assert not [p for p in files_under(root / "sorted", root / "review") if ".facewatchd-" in p.name]


def test_the_trash_is_purged_after_trash_days_and_only_of_our_own_files(tmp_path: Path) -> None:
    from facewatchd import config as config_module, route
    from facewatchd.report import FaceReport
    from facewatchd.review import ReviewQueue
    from facewatchd.sorter import Sorter
    from facewatchd.store import Store

    from .helpers import write_config

    config = config_module.load(write_config(tmp_path, extra="[review]\ntrash_days = 2\n"))
    with Store(config.daemon.state_dir) as store:
        sorter = Sorter(config, store)
        review = ReviewQueue(sorter)
        for name in ("old.jpg", "swapped.jpg"):
            path = tmp_path / "inbound" / name
            path.write_bytes(name.encode() * 100)
            signature, digest = route.identify(path)
            assert sorter.handle(FaceReport(str(path), "image", digest, signature)).outcome == "review"
        for item in review.items():
            review.delete(item)
        (tmp_path / "review" / "trash" / "swapped.jpg").write_bytes(b"the user's own file now")
        now = time.time()
        assert review.purge(2, now=now + 86400) == 0  # one day: too early
        assert review.purge(2, now=now + 3 * 86400) == 1
        assert not (tmp_path / "review" / "trash" / "old.jpg").exists()
        assert (tmp_path / "review" / "trash" / "swapped.jpg").read_bytes() == b"the user's own file now"
        assert [e.outcome for e in store.current(("purged", "trash"))] == ["trash", "purged"]
