"""Where in a review folder a file goes: the one map of its layout.

Items wait at REVIEW/SUBFOLDER (SUBFOLDER: where the file sat below inbound), except
those of three outcomes, which have folders of their own: duplicates/, failed/ and the
trash/ of deleted items (REVIEW/failed/SUBFOLDER...). An inbound subfolder may have
one of those names too (a folder "trash" on a camera card): at the top of the review
folder it gets one more leading underscore ("_trash", and "_trash" becomes "__trash"),
so that a user's folder never lands in, or is read as, one of the daemon's own.
"""

from __future__ import annotations

from pathlib import Path

# outcome → its folder in review (the other outcomes of review: at the top)
OWN_FOLDERS = {"duplicate": "duplicates", "failed": "failed", "trash": "trash"}


def in_review(review: Path, outcome: str, subfolder: Path) -> Path:
    """The folder in `review` for a file of `outcome` that sat in inbound/`subfolder`."""
    own = OWN_FOLDERS.get(outcome)
    if own is not None:
        return review / own / subfolder
    parts = subfolder.parts
    if parts and _looks_own(parts[0]):
        return review / f"_{parts[0]}" / Path(*parts[1:])
    return review / subfolder


def subfolder_in_review(review: Path, folder: Path) -> Path:
    """Where a file now in `folder` (inside `review`) sat below inbound: in_review undone."""
    parts = folder.relative_to(review).parts
    if parts and parts[0] in OWN_FOLDERS.values():
        return Path(*parts[1:])
    if parts and _looks_own(parts[0]):
        return Path(parts[0][1:], *parts[1:])
    return Path(*parts)


def own_folders(review: Path) -> list[Path]:
    """The review folder's folders of its own, where no file may be put by hand."""
    return [review / name for name in OWN_FOLDERS.values()]


def _looks_own(name: str) -> bool:
    return name.lstrip("_") in OWN_FOLDERS.values()
