"""The review queue end to end: a real daemon, real photos and models, facewatchctl.

The tests share one daemon but not their files or people: each drops its own photos
into a subfolder of inbound and works on those items only, so they pass in any order.
When the module ends, every byte that went in is still somewhere, exactly once.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facewatchd import config as config_module
from facewatchd.engine.report import Face, FaceReport
from facewatchd.errors import RefusedError
from facewatchd.files import route
from facewatchd.files.review import ReviewQueue
from facewatchd.files.sorter import Sorter
from facewatchd.state import Store

from ..helpers import SETTLE, DaemonProcess, Dropper, need, sha256, tree, wait_until, write_config

SIMM = "John_Simm"


def ctl_json(daemon: DaemonProcess, *args: str | Path) -> object:
    return json.loads(daemon.ctl("--json", *args).stdout)


class Queue(Dropper):
    """The daemon, what each test dropped into it, and its review items."""

    def items(self, subfolder: str, *args: str) -> dict[str, dict]:
        """The review items that arrived in inbound/subfolder, by their name then."""
        folder = self.root / "inbound" / subfolder
        return {Path(item["source"]).name: item for item in ctl_json(self.daemon, "review", "list", *args)
                if Path(item["source"]).parent == folder}


@pytest.fixture(scope="module")
def queue(data: Path, tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("review")
    config = tree(root, data, daemon=SETTLE)
    with DaemonProcess(config) as daemon:
        daemon.ready()
        q = Queue(daemon, root, data)
        yield q
        assert daemon.stop() == 0
    q.nothing_lost()  # whatever the tests did


def test_unknown_people_no_faces_duplicates_and_bad_files_land_in_review(queue: Queue) -> None:
    queue.drop("arrivals", {"savage.jpg": "people/John_Savage/000264_01099001.jpg",
                            "cat.jpg": "no_faces/cat.jpg",
                            "pair.jpg": "groups/voc_2009_004587.jpg",
                            "obama.jpg": "people/Barack_Obama/obama2.jpg",
                            "broken.jpg": b"\xff\xd8\xff\xe0 this is not a picture"})
    # The same photo again, once the first copy is sorted: a duplicate.
    queue.drop("arrivals", {"again.jpg": "people/Barack_Obama/obama2.jpg"})
    items = queue.items("arrivals")
    assert {name: item["reason"] for name, item in items.items()} == {
        "savage.jpg": "unknown_face", "pair.jpg": "unknown_face", "cat.jpg": "no_face",
        "broken.jpg": "failed", "again.jpg": "duplicate"}
    assert items["pair.jpg"]["faces"] == 2 and items["cat.jpg"]["faces"] == 0
    stranger = items["savage.jpg"]
    assert stranger["person"] in ("Barack_Obama", "Joe_Biden", "Kit_Harington") and stranger["distance"] > 0.6
    assert Path(items["broken.jpg"]["path"]) == queue.root / "review" / "failed" / "arrivals" / "broken.jpg"
    assert list(queue.items("arrivals", "--reason", "no_face")) == ["cat.jpg"]
    assert len(ctl_json(queue.daemon, "review", "list", "--limit", "2")) == 2
    text = queue.daemon.ctl("review", "list").stdout
    assert "unknown face" in text and "cat.jpg" in text
    assert queue.daemon.status()["in_review"] >= 5


def test_a_strangers_cluster_is_found_named_and_filed(queue: Queue) -> None:
    simm = sorted((queue.data / "people" / SIMM).iterdir())
    queue.drop("simm", {p.name: f"people/{SIMM}/{p.name}" for p in simm[:5]})
    simm_ids = {item["id"] for item in queue.items("simm").values()}
    clusters = [c for c in ctl_json(queue.daemon, "clusters") if set(c["items"]) & simm_ids]
    assert len(clusters) == 1, "one cluster for him"
    (cluster,) = clusters
    assert set(cluster["items"]) <= simm_ids and cluster["size"] >= 3
    named = ctl_json(queue.daemon, "clusters", "name", str(cluster["id"]), SIMM)
    assert named["references"] == cluster["size"]
    # Every photo of him leaves review, those outside the cluster too.
    assert not queue.items("simm")
    for photo in simm[:5]:
        assert (queue.root / "sorted" / SIMM / "simm" / photo.name).is_file()
    assert SIMM in queue.daemon.status()["references"]
    # And the next photo of him goes straight to his folder.
    queue.drop("", {simm[5].name: f"people/{SIMM}/{simm[5].name}"})
    assert (queue.root / "sorted" / SIMM / simm[5].name).is_file()


def test_teaching_one_photo_files_the_others_of_that_person(queue: Queue) -> None:
    queue.drop("teach", {"rose1.jpg": "people/Rose_Leslie/img1.jpg",
                         "rose2.jpg": "people/Rose_Leslie/img2.jpg",
                         "pair.jpg": "groups/voc_2008_002470.jpg"})
    items = queue.items("teach")
    pair = items["pair.jpg"]
    assert pair["faces"] > 1
    refused = queue.daemon.ctl("review", "add-reference", str(pair["id"]), "--person", "Someone",
                               check=False)
    assert refused.returncode == 65 and f"--face 1..{pair['faces']}" in refused.stdout
    assert queue.items("teach")["pair.jpg"]["id"] == pair["id"]  # still there, nothing learnt
    assert "Someone" not in queue.daemon.status()["references"]

    taught = ctl_json(queue.daemon, "review", "add-reference", str(items["rose1.jpg"]["id"]),
                      "--person", "Rose_Leslie")
    assert taught["results"][0]["ok"] and taught["results"][0]["reference"]
    assert (queue.root / "sorted" / "Rose_Leslie" / "teach" / "rose1.jpg").is_file()
    # Her other photo leaves review on its own, the command says so, and the ledger why.
    assert items["rose2.jpg"]["id"] in [m["id"] for m in taught["filed"]]
    filed = queue.root / "sorted" / "Rose_Leslie" / "teach" / "rose2.jpg"
    assert filed.is_file()
    assert "after the references changed" in queue.daemon.ctl("why", filed).stdout


def test_keep_delete_and_restore_round_trip_without_losing_a_byte(queue: Queue) -> None:
    queue.drop("keep", {"dogs.jpg": "no_faces/dogs.jpg", "broken.jpg": b"\xff\xd8\xff not a picture"})
    items = queue.items("keep")
    dogs, broken = items["dogs.jpg"], items["broken.jpg"]
    outside = queue.daemon.ctl("review", "keep", str(dogs["id"]), "--to", "/etc", check=False)
    assert outside.returncode == 65 and "not inside" in outside.stdout
    kept = ctl_json(queue.daemon, "review", "keep", str(dogs["id"]), "--to", queue.root / "sorted" / "Pets")
    pets = queue.root / "sorted" / "Pets" / "keep"  # the subfolder it arrived in, kept
    (result,) = kept["results"]
    assert result == {"id": dogs["id"], "ok": True, "path": str(pets / "dogs.jpg"), "entry": result["entry"]}
    assert sha256(pets / "dogs.jpg") == sha256(queue.data / "no_faces" / "dogs.jpg")

    result = queue.daemon.ctl("--json", "review", "delete", str(broken["id"]), "999999", check=False)
    deleted = json.loads(result.stdout)["results"]
    assert result.returncode == 65 and deleted[0]["ok"]
    assert deleted[1] == {"id": 999999, "ok": False, "error": "no item 999999 in review"}
    assert (queue.root / "review" / "trash" / "keep" / "broken.jpg").is_file()
    assert "broken.jpg" not in queue.items("keep")
    trash = queue.items("keep", "--deleted")
    assert [t["id"] for t in trash.values()] == [broken["id"]] and trash["broken.jpg"]["deleted"]
    restored = ctl_json(queue.daemon, "review", "restore", str(broken["id"]))["results"]
    assert restored[0]["path"] == str(queue.root / "review" / "failed" / "keep" / "broken.jpg")
    assert queue.items("keep")["broken.jpg"]["id"] == broken["id"]  # the same item again


def test_the_contact_sheet_shows_thumbnails_with_face_boxes(queue: Queue, tmp_path: Path) -> None:
    need(shutil.which("chromium") is not None, "Debian's chromium is not installed")
    queue.drop("sheet", {"lady.jpg": "groups/lady.jpg", "cats.jpg": "no_faces/cats.jpg"})
    sheet = tmp_path / "sheet.html"
    result = queue.daemon.ctl("review", "sheet", sheet)
    assert "items" in result.stdout
    html = sheet.read_text()
    items = ctl_json(queue.daemon, "review", "list")
    pictures = [i for i in items if i["reason"] != "failed"]  # what could not be decoded has none
    assert html.count("<figure") == len(items) and html.count("data:image/jpeg;base64,") == len(pictures)
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


def test_a_photo_added_to_the_references_folder_is_learnt_and_the_queue_rechecked(queue: Queue) -> None:
    penny = sorted((queue.data / "people" / "bbt_penny").iterdir())
    queue.drop("penny", {p.name: f"people/bbt_penny/{p.name}" for p in penny[:2]})
    assert set(queue.items("penny")) == {p.name for p in penny[:2]}
    folder = queue.root / "references" / "bbt_penny"
    folder.mkdir()
    shutil.copy2(penny[2], folder / penny[2].name)
    wait_until(lambda: not queue.items("penny"), why="the review queue was not re-checked")
    assert queue.daemon.status()["references"]["bbt_penny"] == 1
    assert (queue.root / "sorted" / "bbt_penny" / "penny" / penny[1].name).is_file()


def test_the_trash_is_purged_after_trash_days_and_only_of_our_own_files(tmp_path: Path) -> None:
    from facewatchd.files import upkeep
    from facewatchd.steps import run_to_end

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
        assert run_to_end(upkeep.purge(review, 2, now=now + 86400), list) == 0  # one day: too early
        assert run_to_end(upkeep.purge(review, 2, now=now + 3 * 86400), list) == 1
        assert not (tmp_path / "review" / "trash" / "old.jpg").exists()
        assert (tmp_path / "review" / "trash" / "swapped.jpg").read_bytes() == b"the user's own file now"
        assert [e.outcome for e in store.current(("purged", "trash"))] == ["trash", "purged"]


def test_what_a_person_types_is_understood_or_refused_clearly(queue: Queue) -> None:
    queue.drop("typing", {"cat.jpg": "no_faces/cats_2.jpg", "stranger.jpg": "people/John_Savage/000274_01099061.jpg"})
    items = queue.items("typing")
    # Reasons as they are printed or as they are spelled; anything else names the choices.
    assert list(queue.items("typing", "--reason", "no face")) == ["cat.jpg"]
    bogus = queue.daemon.ctl("review", "list", "--reason", "bogus", check=False)
    assert bogus.returncode == 64 and "no_face, unknown_face" in bogus.stderr
    # A person nobody has heard of is a typo until said otherwise.
    typo = queue.daemon.ctl("review", "keep", str(items["stranger.jpg"]["id"]), "--person", "Nobdy",
                            check=False)
    assert typo.returncode == 64 and "not a known person" in typo.stderr and "--new-person" in typo.stderr
    assert "stranger.jpg" in queue.items("typing")
    # Which items, then: ids or --all, said plainly.
    neither = queue.daemon.ctl("review", "delete", check=False)
    assert neither.returncode == 64 and "say which items" in neither.stderr
    # `why` takes an item's id as well as a path; `test` of an item says it is one.
    why = queue.daemon.ctl("why", str(items["cat.jpg"]["id"])).stdout
    assert "no face" in why and str(queue.root / "inbound" / "typing" / "cat.jpg") in why
    tested = queue.daemon.ctl("test", items["cat.jpg"]["path"]).stdout
    assert f"it is in review as item {items['cat.jpg']['id']} (no face)" in tested
    # Cluster ids are not item ids.
    wrong = queue.daemon.ctl("clusters", "ignore", str(items["cat.jpg"]["id"]), check=False)
    assert wrong.returncode == 64 and "look like c17" in wrong.stderr


def test_keep_to_a_folder_keeps_the_subfolder_it_came_from(queue: Queue) -> None:
    queue.drop("trip/day1", {"mountain.jpg": "no_faces/pilatus_mountain.jpg"})
    (item,) = queue.items("trip/day1").values()
    kept = ctl_json(queue.daemon, "review", "keep", str(item["id"]), "--to", queue.root / "sorted" / "Places")
    assert kept["results"][0]["path"] == str(queue.root / "sorted" / "Places" / "trip" / "day1" / "mountain.jpg")


def plain_picture(colour: tuple[int, int, int]) -> bytes:
    """A picture with no face in it, of content no other test drops."""
    out = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(out, "PNG")
    return out.getvalue()


def test_inbound_folders_named_like_the_review_folders_own_stay_apart(queue: Queue) -> None:
    review = queue.root / "review"
    queue.drop("trash", {"wall.png": plain_picture((200, 30, 30))})
    queue.drop("duplicates", {"sky.png": plain_picture((30, 30, 200))})
    wall, sky = queue.items("trash")["wall.png"], queue.items("duplicates")["sky.png"]
    assert Path(wall["path"]) == review / "_trash" / "wall.png"
    assert Path(sky["path"]) == review / "_duplicates" / "sky.png"
    assert (wall["reason"], wall["deleted"], sky["reason"]) == ("no_face", False, "no_face")
    assert "wall.png" not in queue.items("trash", "--deleted")
    # Deleted and restored, it comes back to where it was; kept, its folder is "trash" again.
    deleted = ctl_json(queue.daemon, "review", "delete", str(wall["id"]))["results"]
    assert deleted[0]["path"] == str(review / "trash" / "trash" / "wall.png")
    restored = ctl_json(queue.daemon, "review", "restore", str(wall["id"]))["results"]
    assert restored[0]["path"] == wall["path"]
    kept = ctl_json(queue.daemon, "review", "keep", str(wall["id"]), "--to", queue.root / "sorted" / "Walls")
    assert kept["results"][0]["path"] == str(queue.root / "sorted" / "Walls" / "trash" / "wall.png")
    # Nothing may be kept into the review folder's own folders: it would pass for an item.
    into = queue.daemon.ctl("review", "keep", str(sky["id"]), "--to", review / "duplicates", check=False)
    assert into.returncode == 65 and "review folder's own folders" in into.stdout
    assert queue.items("duplicates")["sky.png"]["path"] == sky["path"]


# Below the daemon: a real store, real files and the real sorter, with reports made
# up (the faces' encodings are what a worker would have found).

@contextmanager
def below_the_daemon(root: Path, extra: str = "") -> Iterator[tuple[Sorter, ReviewQueue]]:
    config = config_module.load(write_config(root, extra=extra))
    with Store(config.daemon.state_dir) as store:
        sorter = Sorter(config, store)
        yield sorter, ReviewQueue(sorter)


def to_review(sorter: Sorter, path: Path, faces: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(path.name.encode() * 100)
    signature, digest = route.identify(path)
    found = tuple(Face((10, 60, 60, 10), np.full(128, 0.5 + i), 1.0) for i in range(faces))
    assert sorter.handle(FaceReport(str(path), "image", digest, signature, (100, 100), found)
                         ).outcome == "review"


def test_a_teach_refused_because_the_item_moved_meanwhile_teaches_nothing(tmp_path: Path) -> None:
    with below_the_daemon(tmp_path) as (sorter, review):
        to_review(sorter, tmp_path / "inbound" / "face.jpg", faces=1)
        (seen,) = review.items()  # what the page showed
        review.keep(seen, to=str(tmp_path / "sorted" / "Elsewhere"))  # another client, meanwhile
        with pytest.raises(RefusedError, match="moved meanwhile"):
            review.teach(seen, "Anna")
        assert sorter.store.references() == [] and sorter.store.persons() == []
        assert (tmp_path / "sorted" / "Elsewhere" / "face.jpg").is_file()
