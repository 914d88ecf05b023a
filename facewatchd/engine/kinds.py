"""What a file in an inbound folder is, by its name alone: decided here, once, for
every way in (the start-up scan, live events, rescans, the references folder).

- media: photos and videos, which are analysed and sorted;
- sidecars: what belongs to a photo beside it, which goes wherever its photo goes and
  never alone: metadata (XMP from digiKam, Lightroom, darktable; Google Takeout's JSON;
  Apple's AAE), and the RAW file a camera shot with the JPEG (IMG_1.CR2 beside
  IMG_1.JPG), with the RAW's own metadata (IMG_1.CR2.xmp): the pair is one photo;
- everything else (notes, PDFs, a RAW file without its JPEG...): left where it is,
  counted as ignored;
- and what is not there to be taken at all: dot-files and partial downloads.

Cheap and pure: no decoder is imported, so the main process never loads Pillow.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

IMAGE_SUFFIXES = frozenset(".jpg .jpeg .jpe .png .gif .bmp .webp .heic .heif .avif .tif .tiff".split())
VIDEO_SUFFIXES = frozenset(".mp4 .mov .avi .mkv .webm .flv .m4v .3gp .mts .m2ts".split())
RAW_SUFFIXES = frozenset(".cr2 .cr3 .nef .arw .dng .raf .orf .rw2 .pef .srw".split())
PARTIAL_SUFFIXES = frozenset(".part .partial .crdownload .download .tmp .temp .!qb .opdownload".split())

Kind = Literal["image", "video", "sidecar"]


def wanted(name: str) -> bool:
    """Whether a file of this name may be taken at all (not a dot-file or a partial download)."""
    if name.startswith((".", "~")):
        return False
    return Path(name).suffix.lower() not in PARTIAL_SUFFIXES


def kind_of(path: Path) -> Kind | None:
    """'image', 'video', 'sidecar', or None: a file to leave alone."""
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return "image"
    if suffix in VIDEO_SUFFIXES:
        return "video"
    if suffix in (".xmp", ".aae") or suffix in RAW_SUFFIXES or (
            suffix == ".json" and _media_before(path.name)):
        return "sidecar"
    return None


def is_media(path: Path) -> bool:
    return kind_of(path) in ("image", "video")


def analysed_as(path: str | Path) -> Literal["image", "video"]:
    """How a file is analysed (and its report's kind): a video, or else tried as an image."""
    return "video" if kind_of(Path(path)) == "video" else "image"


def _media_before(name: str) -> bool:
    # Takeout's "IMG_1.jpg.json" and "IMG_1.jpg.supplemental-metadata.json"; a lone
    # "settings.json" is nobody's sidecar.
    return any(Path(part).suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES
               for part in _prefixes(name))


def _prefixes(name: str) -> list[str]:
    pieces = name.split(".")
    return [".".join(pieces[:i]) for i in range(2, len(pieces))]


def belongs_to(sidecar: str, photo: str) -> bool:
    """Whether the sidecar named `sidecar` belongs to the photo named `photo` (in the
    same folder): `IMG_1.xmp`, `IMG_1.JPG.xmp`, `IMG_1.jpg.json`,
    `IMG_1.jpg.supplemental-metadata.json` (also as Takeout cuts it short), `IMG_1.AAE`;
    and, for a picture, its RAW `IMG_1.CR2` and that one's `IMG_1.CR2.xmp`."""
    side, name = sidecar.lower(), photo.lower()
    stem = Path(name).stem
    suffix = Path(side).suffix
    raws = {stem + raw for raw in RAW_SUFFIXES} if Path(name).suffix in IMAGE_SUFFIXES else set()
    if suffix in RAW_SUFFIXES:
        return side in raws
    if suffix == ".xmp":
        return side in {f"{stem}.xmp", f"{name}.xmp"} | {f"{raw}.xmp" for raw in raws}
    if suffix == ".aae":
        return side == f"{stem}.aae"
    if suffix == ".json":
        return side == f"{name}.json" or (side.startswith(f"{name}.supp") and len(side) > len(name) + 5)
    return False


def sidecars_of(photo: Path, listing: Sequence[str] | None = None) -> list[Path]:
    """The sidecars beside `photo`: regular files only, never followed links. Costs one
    listing of its folder, unless `listing` is one (`listed`) still current."""
    stem = Path(photo.name).stem.lower()
    # Every sidecar's name begins with the photo's stem: a plain comparison of each name
    # first, as an inbound folder may hold a whole phone dump.
    names = [n for n in (listed(photo.parent) if listing is None else listing)
             if n.lower().startswith(stem) and n != photo.name]
    return sorted(photo.parent / n for n in names
                  if wanted(n) and kind_of(Path(n)) == "sidecar" and belongs_to(n, photo.name))


def listed(folder: Path) -> list[str]:
    """The names of the regular files in `folder` (none if it cannot be read)."""
    try:
        with os.scandir(folder) as entries:
            return [entry.name for entry in entries if entry.is_file(follow_symlinks=False)]
    except OSError:
        return []


def photo_of(sidecar: Path) -> Path | None:
    """The photo beside `sidecar` that it belongs to, if there is one there."""
    return next((sidecar.parent / n for n in sorted(listed(sidecar.parent))
                 if is_media(Path(n)) and wanted(n) and belongs_to(sidecar.name, n)), None)


def renamed(sidecar: str, photo: str, new_photo: str) -> str:
    """The sidecar's name once its photo `photo` is called `new_photo`: the photo's stem
    in it changes (`IMG_1` → `IMG_1_1`), the rest (`.JPG.xmp`, `.jpg.json`) stays."""
    old, new = Path(photo).stem, Path(new_photo).stem
    if old == new or not sidecar.lower().startswith(old.lower()):
        return sidecar
    return new + sidecar[len(old):]
