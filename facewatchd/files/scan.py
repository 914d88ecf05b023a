"""Walking an inbound folder: every file there to consider, and what it is (kinds.py).

Dot-files and partial downloads are skipped; so are symlinks, FIFOs, sockets and
devices, which are never followed or opened.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from ..engine.kinds import Kind, kind_of, wanted


def walk(folder: Path, recursive: bool) -> Iterator[tuple[Path, Kind | None]]:
    """Every regular file under `folder` with a wanted name, and its kind (None: a file
    to leave alone). Does not descend into dot-folders or through symlinked folders."""
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
            yield path, kind_of(path)
