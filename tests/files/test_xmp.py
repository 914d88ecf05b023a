"""Who is in a photo reaches the photo tools: MWG regions and keywords written into XMP
sidecars by a real daemon, read back by ExifTool and by a reader of our own."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from facewatchd.engine import kinds

from ..helpers import DaemonProcess, need, sha256, tree
from ..xmp_reader import read

DIGIKAM = """<?xml version="1.0" encoding="UTF-8"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:digiKam="http://www.digikam.org/ns/1.0/"
    xmlns:mwg-rs="http://www.metadataworkinggroup.com/schemas/regions/"
    xmlns:stArea="http://ns.adobe.com/xmp/sType/Area#"
    xmlns:stDim="http://ns.adobe.com/xap/1.0/sType/Dimensions#"
    xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:Rating="4">
   <digiKam:TagsList><rdf:Seq>
    <rdf:li>People/Uncle Bob</rdf:li><rdf:li>Places/Beach</rdf:li>
   </rdf:Seq></digiKam:TagsList>
   <mwg-rs:Regions rdf:parseType="Resource">
    <mwg-rs:AppliedToDimensions stDim:w="2000" stDim:h="1000" stDim:unit="pixel"/>
    <mwg-rs:RegionList><rdf:Bag>
     <rdf:li><rdf:Description mwg-rs:Name="Uncle Bob" mwg-rs:Type="Face">
      <mwg-rs:Area stArea:x="0.1" stArea:y="0.2" stArea:w="0.05" stArea:h="0.1" stArea:unit="normalized"/>
     </rdf:Description></rdf:li>
    </rdf:Bag></mwg-rs:RegionList>
   </mwg-rs:Regions>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
"""


def exiftool(path: Path) -> dict:
    out = subprocess.run(["exiftool", "-j", "-struct", "-n", "-XMP:all", str(path)],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)[0]


def stored_size(photo: Path) -> tuple[int, int]:
    with Image.open(photo) as image:  # as stored: no EXIF turn
        return image.size


@pytest.fixture(scope="module")
def daemon(data: Path, tmp_path_factory: pytest.TempPathFactory):
    need(shutil.which("exiftool") is not None, "exiftool is missing (Debian package libimage-exiftool-perl)")
    root = tmp_path_factory.mktemp("xmp")
    config = tree(root, data, extra="[xmp]\nwrite = true\n")
    (root / "references" / "Rose_Leslie").mkdir()
    shutil.copy2(data / "people" / "Rose_Leslie" / "img1.jpg", root / "references" / "Rose_Leslie")
    with DaemonProcess(config) as running:
        running.ready()
        running.root, running.data = root, data
        yield running
        assert running.stop() == 0


def drop(daemon: DaemonProcess, folder: str, files: dict[str, str | bytes]) -> Path:
    inbound = daemon.root / "inbound" / folder
    staging = daemon.root / "staging" / folder
    staging.mkdir(parents=True)
    for name, content in files.items():
        if isinstance(content, bytes):
            (staging / name).write_bytes(content)
        else:
            shutil.copy2(daemon.data / content, staging / name)
    photos = sum(kinds.is_media(Path(name)) for name in files)
    processed = daemon.status()["processed"]
    staging.rename(inbound)  # all at once, sidecars with their photo
    daemon.wait_idle(processed + photos)
    return inbound


def test_a_sorted_photo_gets_a_sidecar_naming_its_person_over_the_face(daemon) -> None:
    drop(daemon, "plain", {"IMG_1.jpg": "people/Barack_Obama/obama2.jpg"})
    photo = daemon.root / "sorted" / "Barack_Obama" / "plain" / "IMG_1.jpg"
    assert sha256(photo) == sha256(daemon.data / "people" / "Barack_Obama" / "obama2.jpg")
    sidecar = photo.parent / "IMG_1.jpg.xmp"
    ours, theirs = read(sidecar), exiftool(sidecar)
    (region,) = ours["regions"]
    assert (region["name"], region["type"], region["description"]) == ("Barack_Obama", "Face", "facewatchd")
    assert ours["dimensions"] == stored_size(photo)
    assert theirs["RegionInfo"]["AppliedToDimensions"] == {"W": stored_size(photo)[0],
                                                           "H": stored_size(photo)[1], "Unit": "pixel"}
    (listed,) = theirs["RegionInfo"]["RegionList"]
    assert listed["Name"] == "Barack_Obama" and listed["Area"]["X"] == pytest.approx(region["x"])
    # Over the face the ledger has (upright = stored here).
    top, right, bottom, left = json.loads(daemon.ctl("--json", "why", photo).stdout)["evidence"]["faces"][0]["box"]
    w, h = stored_size(photo)
    assert left / w < region["x"] < right / w and top / h < region["y"] < bottom / h
    assert region["w"] == pytest.approx((right - left) / w, abs=0.01)
    for key, value in [("tags", "People/Barack_Obama"), ("hierarchical", "People|Barack_Obama"),
                       ("persons", "Barack_Obama"), ("subject", "Barack_Obama")]:
        assert ours[key] == [value], key
    daemon.ctl("undo", photo)  # the sidecar it made goes
    assert sorted(p.name for p in (daemon.root / "inbound" / "plain").iterdir()) == ["IMG_1.jpg"]
    assert not sidecar.exists()


def test_a_sidecar_it_came_with_is_merged_into_and_given_back_by_undo(daemon) -> None:
    original = DIGIKAM.encode()
    drop(daemon, "merged", {"IMG_2.jpg": "people/Joe_Biden/biden2.jpg", "IMG_2.xmp": original})
    folder = daemon.root / "sorted" / "Joe_Biden" / "merged"
    assert sorted(p.name for p in folder.iterdir()) == ["IMG_2.jpg", "IMG_2.xmp"]  # one sidecar
    ours = read(folder / "IMG_2.xmp")
    assert [r["name"] for r in ours["regions"]] == ["Uncle Bob", "Joe_Biden"]  # theirs kept
    assert ours["dimensions"] == (2000, 1000)  # theirs too: our areas are fractions
    assert ours["tags"] == ["People/Uncle Bob", "Places/Beach", "People/Joe_Biden"]
    assert exiftool(folder / "IMG_2.xmp")["Rating"] == 4
    daemon.ctl("undo", folder / "IMG_2.jpg")
    assert (daemon.root / "inbound" / "merged" / "IMG_2.xmp").read_bytes() == original


def test_a_person_who_teaches_rewrites_only_their_own_regions_and_undo_takes_it_back(daemon) -> None:
    drop(daemon, "taught", {"lady.jpg": "groups/lady.jpg",
                            "lady.jpg.xmp": DIGIKAM.encode()})  # a stranger: to review, untouched
    review = daemon.root / "review" / "taught"
    assert (review / "lady.jpg.xmp").read_bytes() == DIGIKAM.encode()
    (item,) = [i for i in json.loads(daemon.ctl("--json", "review", "list").stdout)
               if Path(i["source"]).parent.name == "taught"]
    daemon.ctl("review", "add-reference", str(item["id"]), "--person", "The_Lady")
    kept = daemon.root / "sorted" / "The_Lady" / "taught"
    ours = read(kept / "lady.jpg.xmp")
    assert [r["name"] for r in ours["regions"]] == ["Uncle Bob", "The_Lady"]
    daemon.ctl("undo", kept / "lady.jpg")
    assert (review / "lady.jpg.xmp").read_bytes() == DIGIKAM.encode()


def test_a_rotated_photo_has_its_region_in_the_stored_frame(daemon, engine, tmp_path: Path) -> None:
    drop(daemon, "rotated", {"rose.jpg": "formats/rose_leslie_exif_orientation6.jpg"})
    photo = daemon.root / "sorted" / "Rose_Leslie" / "rotated" / "rose.jpg"
    (region,) = read(photo.parent / "rose.jpg.xmp")["regions"]
    with Image.open(photo) as stored:  # sideways, as stored
        assert read(photo.parent / "rose.jpg.xmp")["dimensions"] == stored.size
        w, h = stored.size
        box = ((region["x"] - region["w"]) * w, (region["y"] - region["h"]) * h,
               (region["x"] + region["w"]) * w, (region["y"] + region["h"]) * h)  # the face, with room
        crop = stored.crop(tuple(round(v) for v in box)).rotate(-90, expand=True)  # turned as EXIF 6 says
    crop.save(tmp_path / "face.jpg")
    assert engine.analyse(tmp_path / "face.jpg").faces, "no face where the region is"


def test_an_avif_photo_is_sorted_like_a_jpeg(daemon, tmp_path: Path) -> None:
    with Image.open(daemon.data / "people" / "Kit_Harington" / "johnsnow_test1.jpg") as image:
        image.save(tmp_path / "kit.avif", quality=80)
    drop(daemon, "avif", {"kit.avif": (tmp_path / "kit.avif").read_bytes()})
    assert (daemon.root / "sorted" / "Kit_Harington" / "avif" / "kit.avif").is_file()


def test_a_sidecar_exiftool_wrote_keeps_its_properties_and_regions(daemon, tmp_path: Path) -> None:
    made = tmp_path / "IMG_3.jpg.xmp"
    subprocess.run(["exiftool", "-q", "-XMP-dc:Title=At the lake", "-XMP-xmp:Rating=2",
                    "-XMP-mwg-rs:RegionInfo={AppliedToDimensions={W=1200,H=1200,Unit=pixel},"
                    "RegionList=[{Area={X=0.2,Y=0.2,W=0.1,H=0.1,Unit=normalized},Name=Aunt May,Type=Face}]}",
                    str(made)], check=True)
    drop(daemon, "exiftool", {"IMG_3.jpg": "people/Kit_Harington/johnsnow_test1.jpg",
                              "IMG_3.jpg.xmp": made.read_bytes()})
    sidecar = daemon.root / "sorted" / "Kit_Harington" / "exiftool" / "IMG_3.jpg.xmp"
    theirs = exiftool(sidecar)
    assert theirs["Title"] == "At the lake" and theirs["Rating"] == 2
    assert [r["Name"] for r in theirs["RegionInfo"]["RegionList"]] == ["Aunt May", "Kit_Harington"]
    assert [r["name"] for r in read(sidecar)["regions"]] == ["Aunt May", "Kit_Harington"]
