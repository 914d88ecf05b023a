"""import-regions through a real daemon: a library other tools tagged (sidecars, embedded
XMP, Microsoft regions) teaches it a person, whose next photo is then sorted to her."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

from PIL import Image

from ..helpers import DaemonProcess, need, tree

SIMM = "people/John_Simm"


def mwg(name: str, box: tuple[int, int, int, int], size: tuple[int, int]) -> str:
    """ExifTool's struct for one named MWG face region over `box` (top, right, bottom, left)."""
    top, right, bottom, left = box
    w, h = size
    x, y, rw, rh = (left + right) / 2 / w, (top + bottom) / 2 / h, (right - left) / w, (bottom - top) / h
    return (f"-XMP-mwg-rs:RegionInfo={{AppliedToDimensions={{W={w},H={h},Unit=pixel}},RegionList=[{{Area={{"
            f"X={x:.4f},Y={y:.4f},W={rw:.4f},H={rh:.4f},Unit=normalized}},Name={name},Type=Face}}]}}")


def test_faces_named_in_another_tool_teach_a_person_and_undo_takes_them_back(
        data: Path, tmp_path: Path, engine) -> None:
    need(shutil.which("exiftool") is not None, "exiftool is missing (Debian package libimage-exiftool-perl)")
    library = tmp_path / "Pictures"  # the person's own, outside the daemon's folders
    library.mkdir()
    photos = sorted((data / SIMM).iterdir())
    for n, photo in enumerate(photos[:3]):
        copy = library / f"DSC_{n}.jpg"
        shutil.copy2(photo, copy)
        (face,) = engine.analyse(copy).faces
        with Image.open(copy) as image:
            size = image.size
        if n == 0:  # a digiKam sidecar
            subprocess.run(["exiftool", "-q", mwg("Paula", face.box, size), f"{copy}.xmp"], check=True)
        elif n == 1:  # embedded in the photo, as Lightroom may write it
            subprocess.run(["exiftool", "-q", "-overwrite_original", mwg("Paula", face.box, size), str(copy)],
                           check=True)
        else:  # Microsoft's regions (Picasa, Windows Photo Gallery): left, top, width, height
            top, right, bottom, left = face.box
            rect = f"{left / size[0]:.4f}, {top / size[1]:.4f}, {(right - left) / size[0]:.4f}, " \
                   f"{(bottom - top) / size[1]:.4f}"
            subprocess.run(["exiftool", "-q", "-XMP-MP:RegionInfoMP={Regions=[{PersonDisplayName=Paula,"
                            f"Rectangle={rect.replace(',', '|,')}}}]}}", f"{copy}.xmp"], check=True)
    (library / "DSC_9.jpg.xmp").write_text("<x:xmpmeta xmlns:x='adobe:ns:meta/'/>")  # no photo: nothing
    config = tree(tmp_path, data)
    with DaemonProcess(config) as daemon:
        daemon.ready()
        started = time.time()
        answer = json.loads(daemon.ctl("--json", "import-regions", library).stdout)
        assert answer["persons"] == {"Paula": 3}, answer
        refs = json.loads(daemon.ctl("--json", "references", "Paula").stdout)
        assert [r["origin"] for r in refs] == ["imported"] * 3
        assert "Paula" in daemon.status()["references"]
        again = daemon.ctl("import-regions", library).stdout  # nothing twice
        assert "imported nothing new" in again and "3 were references already" in again
        processed = daemon.status()["processed"]
        shutil.copy2(photos[3], tmp_path / "inbound" / "simm.jpg")
        daemon.wait_idle(processed + 1)
        assert (tmp_path / "sorted" / "Paula" / "simm.jpg").is_file()
        undone = daemon.ctl("undo", "--since", f"@{started}").stdout
        assert "references" in undone and "of import-regions disabled" in undone
        assert "Paula" not in daemon.status()["references"]
        assert daemon.stop() == 0
