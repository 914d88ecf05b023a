"""Who is in a photo, for the photo tools: face regions and keywords in its XMP sidecar
([xmp] write), so digiKam, Immich, PhotoPrism and Lightroom show the names found.

For each face a file's person was matched to or confirmed by a person (never an unknown
face), one region of the Metadata Working Group's kind (mwg-rs:Regions, which all four
read): Type Face, Name the person, Area the face's centre and size as fractions of the
*stored* picture (before its EXIF orientation turns it upright, as MWG says), with
AppliedToDimensions the stored size in pixels; and its Description "facewatchd", so a
later write replaces our regions only, never a region another tool or a person drew.
And the person as a keyword, in the four places the tools look: digiKam's TagsList
(People/NAME), Lightroom's hierarchicalSubject (People|NAME), IPTC Extension's
PersonInImage, and dc:subject (what Immich and PhotoPrism take for keywords). The
keywords a write added are recorded in its ledger row, so the next write of that file
takes them away before it adds its own. Not written: Microsoft's MP:RegionInfo, which
every tool that reads it reads beside MWG.

Sidecars only, never the photo's bytes: the sidecar the photo came with (IMG_1.JPG.xmp,
or IMG_1.xmp) is merged into, keeping every other property; else IMG_1.JPG.xmp is made.
Written on a copy beside it, synced, and renamed over it; what it was before is in the
ledger (`Written.record`), so undo gives it back (`revert`).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..engine.report import Box
from ..errors import FacewatchError, RouteError
from . import route
from .exiftool import ExifTool

log = logging.getLogger("facewatchd.xmp")

MARK = "facewatchd"  # the Description of the regions this writes
REGIONS = "XMP-mwg-rs:RegionInfo"
KEYWORDS = {"XMP-digiKam:TagsList": "People/{}", "XMP-lr:HierarchicalSubject": "People|{}",
            "XMP-iptcExt:PersonInImage": "{}", "XMP-dc:Subject": "{}"}
# EXIF orientation → where a point of the upright picture is in the stored one, both
# as fractions of their sides (the inverse of how exif_transpose turns it upright).
_STORED: dict[int, Callable[[float, float], tuple[float, float]]] = {
    1: lambda u, v: (u, v), 2: lambda u, v: (1 - u, v), 3: lambda u, v: (1 - u, 1 - v),
           4: lambda u, v: (u, 1 - v), 5: lambda u, v: (v, u), 6: lambda u, v: (v, 1 - u),
           7: lambda u, v: (1 - v, 1 - u), 8: lambda u, v: (1 - v, u)}


# ...and the other way: where a point of the stored picture is in the upright one.
_UPRIGHT: dict[int, Callable[[float, float], tuple[float, float]]] = {
    1: lambda x, y: (x, y), 2: lambda x, y: (1 - x, y), 3: lambda x, y: (1 - x, 1 - y),
    4: lambda x, y: (x, 1 - y), 5: lambda x, y: (y, x), 6: lambda x, y: (1 - y, x),
    7: lambda x, y: (1 - y, 1 - x), 8: lambda x, y: (y, 1 - x)}


def upright_box(area: Mapping[str, float], size: tuple[int, int], orientation: int) -> Box:
    """An MWG area (centre and size, fractions of the stored picture) as a box in pixels
    of the upright picture of `size` (top, right, bottom, left)."""
    x, y, w, h = (float(area[k]) for k in ("X", "Y", "W", "H"))
    to_upright = _UPRIGHT.get(orientation, _UPRIGHT[1])
    (u0, v0), (u1, v1) = to_upright(x - w / 2, y - h / 2), to_upright(x + w / 2, y + h / 2)
    width, height = size
    return (round(min(v0, v1) * height), round(max(u0, u1) * width), round(max(v0, v1) * height),
            round(min(u0, u1) * width))


@dataclass(frozen=True)
class Names:
    """What one write says: each named face (person, box in upright pixels), and the
    picture's upright size and EXIF orientation."""

    faces: tuple[tuple[str, Box], ...]
    size: tuple[int, int]
    orientation: int = 1

    @classmethod
    def of(cls, evidence: Mapping[str, Any], persons: Sequence[str]) -> Names | None:
        """The faces of a file filed under `persons` that are theirs: matched to one of
        them, or confirmed by a person (evidence["confirmed"]: face index → person, as
        teaching records it; a photo of one face kept as one person is that person's)."""
        faces = evidence.get("faces", [])
        if evidence.get("kind", "image") != "image" or not persons or not faces:
            return None
        named = {i: f["person"] for i, f in enumerate(faces) if f.get("matched") and f.get("person") in persons}
        named.update({int(i): p for i, p in evidence.get("confirmed", {}).items()})
        if not named and len(faces) == 1 and len(persons) == 1:
            named[0] = persons[0]
        size = tuple(evidence.get("size", (0, 0)))
        if not named or not all(size):
            return None
        return cls(tuple((p, tuple(faces[i]["box"])) for i, p in sorted(named.items())),
                   (int(size[0]), int(size[1])), int(evidence.get("orientation", 1)))

    def stored_size(self) -> tuple[int, int]:
        w, h = self.size
        return (h, w) if self.orientation in (5, 6, 7, 8) else (w, h)

    def regions(self) -> list[dict[str, Any]]:
        """Each face as an MWG region, its area in the stored picture's fractions."""
        w, h = self.size
        to_stored = _STORED.get(self.orientation, _STORED[1])
        regions = []
        for person, (top, right, bottom, left) in self.faces:
            (x0, y0), (x1, y1) = to_stored(left / w, top / h), to_stored(right / w, bottom / h)
            area = {"X": round((x0 + x1) / 2, 6), "Y": round((y0 + y1) / 2, 6),
                    "W": round(abs(x1 - x0), 6), "H": round(abs(y1 - y0), 6), "Unit": "normalized"}
            regions.append({"Area": area, "Name": person, "Type": "Face", "Description": MARK})
        return regions

    @property
    def persons(self) -> list[str]:
        return list(dict.fromkeys(p for p, _ in self.faces))


def sidecar_of(photo: Path) -> Path:
    """The XMP sidecar of `photo`: the one beside it (IMG_1.JPG.xmp, then IMG_1.xmp, in
    any case), or else the IMG_1.JPG.xmp to make."""
    try:
        names = {n.lower(): n for n in os.listdir(photo.parent)}
    except OSError:
        names = {}
    for candidate in (f"{photo.name}.xmp", f"{photo.stem}.xmp"):
        if (found := names.get(candidate.lower())) is not None and os.path.isfile(photo.parent / found):
            return photo.parent / found
    return photo.parent / f"{photo.name}.xmp"


class Writer:
    """Writes Names into sidecars, through one ExifTool kept running."""

    def __init__(self, tool: ExifTool | None = None) -> None:
        self.tool = tool or ExifTool()

    def write(self, photo: Path, names: Names, forget: Sequence[str], tag: str) -> dict[str, Any]:
        """Write `names` into the sidecar of `photo`, after taking away the keywords in
        `forget` (the ones the previous write added). Returns the ledger's record of it:
        {"path", "created", "before" (base64, or None), "sha256", "added"}. Raises
        FacewatchError when it cannot; the sidecar is then as it was."""
        path = sidecar_of(photo)
        before = path.read_bytes() if path.is_file() and not path.is_symlink() else None
        temp = path.parent / f".facewatchd-{tag}.xmp"  # ExifTool knows a sidecar by its suffix
        temp.unlink(missing_ok=True)
        try:
            if before is not None:
                with open(temp, "xb") as f:
                    f.write(before)
            current = self.tool.read(temp, REGIONS, *KEYWORDS) if before is not None else {}
            theirs = [r for r in listed(current.get("RegionInfo", {}).get("RegionList"))
                      if r.get("Description") != MARK]
            dimensions = (current.get("RegionInfo", {}).get("AppliedToDimensions") if theirs else None) or {
                "W": names.stored_size()[0], "H": names.stored_size()[1], "Unit": "pixel"}
            tags: dict[str, Any] = {REGIONS: {"AppliedToDimensions": dimensions,
                                              "RegionList": theirs + names.regions()}}
            added = []
            for tag_name, form in KEYWORDS.items():
                values = [v for v in listed(current.get(tag_name.split(":")[1])) if v not in forget]
                for person in names.persons:
                    if (keyword := form.format(person)) not in values:
                        values.append(keyword)
                        added.append(keyword)
                tags[tag_name] = values
            self.tool.write(temp, tags)
            after = temp.read_bytes()
            _sync(temp)
            if (path.read_bytes() if path.is_file() else None) != before:
                raise RouteError(f"{path} changed while it was being written; left as it is")
            if before is None:
                route.rename_noreplace(temp, path)  # one made meanwhile is someone else's
            else:
                os.replace(temp, path)  # what it was, merged
            route.fsync_dir(path.parent)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        return {"path": str(path), "created": before is None,
                "before": None if before is None else base64.b64encode(before).decode(),
                "sha256": hashlib.sha256(after).hexdigest(), "added": added}

    def close(self) -> None:
        self.tool.close()


def revert(record: Mapping[str, Any], at: Path) -> None:
    """Undo one write (its ledger record) of the sidecar now at `at`: one it made is
    removed, one it merged into gets its earlier content back. A sidecar changed since
    (by a photo tool, say) is left as it is, and said so."""
    try:
        now = at.read_bytes()
    except OSError:
        return
    if hashlib.sha256(now).hexdigest() != record.get("sha256"):
        log.warning("%s changed since facewatchd wrote it: left as it is", at)
        return
    if record.get("created"):
        at.unlink()
    else:
        temp = at.parent / f".facewatchd-undo-{os.getpid()}.xmp"
        temp.write_bytes(base64.b64decode(record["before"]))
        _sync(temp)
        os.replace(temp, at)
    route.fsync_dir(at.parent)


def try_write(writer: Writer | None, photo: Path, names: Names | None, forget: Sequence[str],
              tag: str) -> dict[str, Any] | None:
    """`Writer.write`, where a failure costs the sidecar, never the move: logged."""
    if writer is None or names is None:
        return None
    try:
        return writer.write(photo, names, forget, tag)
    except (FacewatchError, OSError) as e:
        log.warning("could not write who is in %s into its XMP sidecar: %s", photo, e,
                    extra={"FACEWATCH_PATH": str(photo)})
        return None


def listed(value: Any) -> list[Any]:
    """ExifTool gives a list of one as the one value."""
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _sync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

