"""Sidecars go wherever their photo goes, journaled like it: a real daemon, real photos.

Each test drops its own files into a subfolder of inbound, so they pass in any order;
when the module ends the ledger and the disk agree, sidecars included.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ..helpers import DaemonProcess, files_under, ledger_agrees_with_disk, serving, sha256, wait_until

OBAMA = "people/Barack_Obama"


@pytest.fixture(scope="module")
def daemon(data: Path, tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("journal")
    with serving(root, data) as running:
        yield running
    ledger_agrees_with_disk(root, [root / "inbound", root / "sorted", root / "review"])


def drop(daemon: DaemonProcess, folder: str, files: dict[str, str | bytes]) -> Path:
    """Drop files (name → a photo of the data set, or bytes) into inbound/folder; wait
    until the photos among them are sorted."""
    inbound = daemon.root / "inbound" / folder
    inbound.mkdir(parents=True, exist_ok=True)
    staging = daemon.root / "staging" / folder  # written whole, then renamed in together
    staging.mkdir(parents=True, exist_ok=True)
    photos = 0
    processed = daemon.status()["processed"]
    for name, content in files.items():
        if isinstance(content, bytes):
            (staging / name).write_bytes(content)
        else:
            shutil.copy2(daemon.data / content, staging / name)
            photos += 1
    for name in files:
        (staging / name).rename(inbound / name)
    daemon.wait_idle(processed + photos)
    return inbound


def test_sidecars_go_with_their_photo_and_are_renamed_with_it(daemon) -> None:
    sidecars = {"IMG_0001.JPG.xmp": b"<x:xmpmeta/>", "IMG_0001.jpg.json": b'{"title": 1}',
                "IMG_0001.AAE": b"<plist/>"}
    drop(daemon, "phone", {"IMG_0001.jpg": f"{OBAMA}/obama2.jpg", **sidecars})
    person = daemon.root / "sorted" / "Barack_Obama" / "phone"
    for name, content in sidecars.items():
        assert (person / name).read_bytes() == content
    # Another photo of that name: it becomes IMG_0001_1.jpg, and its sidecar follows the name.
    drop(daemon, "phone", {"IMG_0001.jpg": f"{OBAMA}/obama_small.jpg", "IMG_0001.xmp": b"second"})
    assert (person / "IMG_0001_1.jpg").is_file() and (person / "IMG_0001_1.xmp").read_bytes() == b"second"
    why = json.loads(daemon.ctl("--json", "why", person / "IMG_0001.jpg").stdout)
    assert sorted(Path(s["to"]).name for s in why["sidecars"]) == sorted(sidecars)
    assert not list((daemon.root / "inbound" / "phone").iterdir())


def test_a_raw_file_and_the_pairs_xmp_travel_with_the_jpeg_and_are_undone_with_it(daemon) -> None:
    pair = {"IMG_0100.CR2": b"II*\x00 raw sensor data", "IMG_0100.xmp": b"<x:xmpmeta>pair</x:xmpmeta>",
            "IMG_0100.CR2.xmp": b"<x:xmpmeta>darktable</x:xmpmeta>"}
    inbound = drop(daemon, "raw", {"IMG_0100.JPG": "people/Joe_Biden/biden2.jpg", **pair})
    person = daemon.root / "sorted" / "Joe_Biden" / "raw"
    assert sorted(p.name for p in person.iterdir()) == sorted(["IMG_0100.JPG", *pair])
    assert all((person / name).read_bytes() == content for name, content in pair.items())
    assert not list(inbound.iterdir())
    why = json.loads(daemon.ctl("--json", "why", person / "IMG_0100.JPG").stdout)
    assert sorted(Path(s["to"]).name for s in why["sidecars"]) == sorted(pair)
    daemon.ctl("undo", person / "IMG_0100.JPG")  # back together
    assert sorted(p.name for p in inbound.iterdir()) == sorted(["IMG_0100.JPG", *pair])
    assert not list(person.iterdir())
    daemon.ctl("release", inbound / "IMG_0100.JPG")
    wait_until(lambda: not list(inbound.iterdir()), why=daemon.status)
    # A RAW that comes after its JPEG follows it.
    (inbound / "IMG_0100.ORF").write_bytes(b"late raw")
    wait_until(lambda: (person / "IMG_0100.ORF").is_file(), why=daemon.status)
    assert (person / "IMG_0100.CR2").read_bytes() == pair["IMG_0100.CR2"]


def test_a_photo_of_two_people_has_its_sidecar_under_both(daemon) -> None:
    drop(daemon, "pair", {"pair.jpg": "groups/two_people.jpg", "pair.xmp": b"two of them"})
    for person in ("Barack_Obama", "Joe_Biden"):
        assert (daemon.root / "sorted" / person / "pair" / "pair.xmp").read_bytes() == b"two of them"


def test_a_sidecar_goes_to_review_keep_and_back_with_its_photo(daemon) -> None:
    drop(daemon, "stranger", {"lady.jpg": "groups/lady.jpg", "lady.jpg.json": b'{"people": []}'})
    review = daemon.root / "review" / "stranger"
    assert (review / "lady.jpg.json").is_file()
    (item,) = [i for i in json.loads(daemon.ctl("--json", "review", "list").stdout)
               if Path(i["source"]).parent.name == "stranger"]
    daemon.ctl("review", "keep", str(item["id"]), "--person", "Lady", "--new-person")
    kept = daemon.root / "sorted" / "Lady" / "stranger"
    assert (kept / "lady.jpg").is_file() and (kept / "lady.jpg.json").is_file()
    daemon.ctl("undo", kept / "lady.jpg")
    assert (review / "lady.jpg").is_file() and (review / "lady.jpg.json").is_file()
    assert not (kept / "lady.jpg.json").exists()


def test_a_sidecar_that_comes_after_its_photo_follows_it(daemon) -> None:
    drop(daemon, "late", {"IMG_0009.jpg": f"{OBAMA}/obama_32bit_rgba.png"})
    person = daemon.root / "sorted" / "Barack_Obama" / "late"
    assert (person / "IMG_0009.jpg").is_file()
    (daemon.root / "inbound" / "late" / "IMG_0009.jpg.json").write_bytes(b'{"late": true}')
    wait_until(lambda: (person / "IMG_0009.jpg.json").is_file(), why=daemon.status)
    assert not (daemon.root / "inbound" / "late" / "IMG_0009.jpg.json").exists()
    why = json.loads(daemon.ctl("--json", "why", person / "IMG_0009.jpg").stdout)
    assert [Path(s["to"]).name for s in why["sidecars"]] == ["IMG_0009.jpg.json"]


def test_other_files_stay_in_inbound_counted_and_never_fail(daemon) -> None:
    ignored = daemon.status()["ignored"]
    inbound = drop(daemon, "junk", {"notes.txt": b"shopping list", "scan.pdf": b"%PDF-1.4",
                                    "lonely.xmp": b"whose?", "IMG_0001.CR2": b"raw",
                                    "cat.jpg": "no_faces/cat.jpg"})
    wait_until(lambda: daemon.status()["ignored"] >= ignored + 4, why=daemon.status)
    assert sorted(p.name for p in inbound.iterdir()) == ["IMG_0001.CR2", "lonely.xmp", "notes.txt",
                                                         "scan.pdf"]
    assert not (daemon.root / "review" / "failed" / "junk").exists()
    assert "ignored" not in str(daemon.status()["last_error"])
    assert sha256(daemon.root / "review" / "junk" / "cat.jpg") == sha256(daemon.data / "no_faces" / "cat.jpg")
    assert [p for p in files_under(daemon.root / "review") if p.name.endswith((".txt", ".pdf"))] == []
