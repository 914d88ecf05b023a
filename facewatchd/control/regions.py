"""`facewatchctl import-regions`, the client's side: the people other photo tools named.

Why in the client: the photos are the person's, in their own folders (a digiKam or
Lightroom library), which the daemon, running as its own user, may not read; facewatchctl
runs as that person. It reads each photo's named face regions with ExifTool (MWG's
mwg-rs:Regions, which digiKam, Lightroom and Immich write, and Microsoft's MP:RegionInfo,
Picasa's and Windows Photo Gallery's; from the sidecar, or else embedded in the photo),
finds the face in each region with the engine the daemon uses (one decode and one search
a photo; where the detector finds no face in a region, the region itself is encoded,
its landmarks looked for within it), and sends the daemon what a reference is: the
person, the photo, its hash, the box and the encoding. Regions facewatchd wrote itself
are not taken: they are what it already decided.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..engine import kinds
from ..engine.faces import FaceEngine
from ..engine.report import Box, Face
from ..errors import FacewatchError, UsageError
from ..files import xmp
from ..files.exiftool import ExifTool
from ..files.items import valid_person_name
from ..progress import counted
from .client import Client
from .drawn import settings_of

BATCH = 100  # references a request: well under the protocol's line limit


def import_regions(client: Client, request: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    paths = [Path(p) for p in args.paths]
    found: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    tool = ExifTool()
    try:
        engine = FaceEngine(**vars(settings_of(args.config)))
        photos = list(_photos(paths))
        for photo in counted(photos, len(photos), "import-regions", sys.stderr):
            regions, where = _regions(tool, photo)
            if regions:
                _faces(engine, photo, regions, where, found, skipped)
    finally:
        tool.close()
    results: list[dict[str, Any]] = []
    filed: list[dict[str, Any]] = []
    for start in range(0, len(found), BATCH):
        answer = client.call("import-regions", {"references": found[start:start + BATCH]})
        results += answer["results"]
        filed += answer["filed"]
    results += skipped
    return {"results": results, "filed": filed,
            "persons": dict(Counter(r["person"] for r in results if r["ok"] and not r.get("already"))),
            "already": sum(bool(r.get("already")) for r in results)}


def _photos(paths: list[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            for folder, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if kinds.wanted(d))
                yield from (Path(folder) / f for f in sorted(files)
                            if kinds.wanted(f) and kinds.kind_of(Path(f)) == "image")
        elif kinds.kind_of(path) == "image":
            yield path
        elif not path.exists():
            raise UsageError(f"{path}: no such file or folder")


def _regions(tool: ExifTool, photo: Path) -> tuple[list[tuple[str, dict[str, float] | None, str]], str]:
    """The photo's face regions: (name, MWG area or None when unusable, why not), and
    where they were read."""
    sidecar = xmp.sidecar_of(photo)
    source = sidecar if sidecar.is_file() else photo
    try:
        tags = tool.read(source, xmp.REGIONS, "XMP-MP:RegionInfoMP")
    except FacewatchError as e:
        return [("", None, str(e))], str(source)
    regions: list[tuple[str, dict[str, float] | None, str]] = []
    for region in xmp.listed(tags.get("RegionInfo", {}).get("RegionList")):
        name, area = str(region.get("Name") or ""), region.get("Area")
        if region.get("Type", "Face") != "Face" or not name:
            continue  # a pet, a barcode, or a face nobody named: nothing to learn
        if region.get("Description") == xmp.MARK:
            regions.append((name, None, "written by facewatchd: it knows this face already"))
        elif not isinstance(area, dict) or not {"X", "Y", "W", "H"} <= area.keys():
            regions.append((name, None, "the region has no area"))
        else:
            regions.append((name, area, ""))
    for region in xmp.listed(tags.get("RegionInfoMP", {}).get("Regions")):
        name, rectangle = str(region.get("PersonDisplayName") or ""), str(region.get("Rectangle") or "")
        try:  # left, top, width, height, as fractions
            x, y, w, h = (float(v) for v in rectangle.split(","))
        except ValueError:
            continue
        if name and not any(n == name for n, _, _ in regions):
            regions.append((name, {"X": x + w / 2, "Y": y + h / 2, "W": w, "H": h}, ""))
    return regions, str(source)


def _faces(engine: FaceEngine, photo: Path, regions: list[tuple[str, dict[str, float] | None, str]],
           where: str, found: list[dict[str, Any]], skipped: list[dict[str, Any]]) -> None:
    """Each usable region's face, into `found`; why not, into `skipped`."""
    report = engine.analyse(photo)
    for name, area, why in regions:
        try:
            valid_person_name(name)
        except UsageError as e:
            area, why = None, str(e)
        if area is None or report.failed:
            skipped.append({"file": str(photo), "person": name, "ok": False,
                            "why": why or report.error, "from": where})
            continue
        box = xmp.upright_box(area, report.size, report.orientation)
        face = _inside(report.faces, box) or next(iter(engine.faces_at(photo, [box])), None)
        if face is None:
            skipped.append({"file": str(photo), "person": name, "ok": False, "why": "no face there"})
            continue
        found.append({"person": name, "file": str(photo), "sha256": report.sha256,
                      "box": list(face.box), "encoding": [float(v) for v in face.encoding]})


def _inside(faces: tuple[Face, ...], box: Box) -> Face | None:
    """The face the detector found whose centre is in the region, the largest if several."""
    top, right, bottom, left = box
    inside = [f for f in faces if left <= (f.box[1] + f.box[3]) / 2 <= right
              and top <= (f.box[0] + f.box[2]) / 2 <= bottom]
    return max(inside, key=lambda f: (f.box[2] - f.box[0]) * (f.box[1] - f.box[3]), default=None)

