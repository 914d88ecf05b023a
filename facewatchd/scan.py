"""Which files in an inbound folder are there to be sorted.

Dot-files and partial downloads are left alone; so are symlinks, FIFOs, sockets and
devices, which are never followed or opened. Files whose names say they are neither
photos nor videos are left where they are and counted as ignored.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

from .media import media_kind

PARTIAL_SUFFIXES = frozenset(".part .partial .crdownload .download .tmp .temp .!qb .opdownload".split())


def wanted(name: str) -> bool:
    """Whether a file of this name may be sorted, judging by the name alone."""
    if name.startswith(".") or name.startswith("~"):
        return False
    return Path(name).suffix.lower() not in PARTIAL_SUFFIXES


def walk(folder: Path, recursive: bool) -> Iterator[tuple[Path, bool]]:
    """Every regular file under `folder` with a wanted name, and whether it is media.

    Does not descend into dot-folders or through symlinked folders.
    """
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        return
    for entry in entries:
        if not wanted(entry.name):
            continue
        if entry.is_dir(follow_symlinks=False):
            if recursive:
                yield from walk(Path(entry.path), recursive)
        elif entry.is_file(follow_symlinks=False):
            path = Path(entry.path)
            yield path, media_kind(path) is not None
