"""Whether a configured folder is there to be written into, as it was at start.

A destination's root, a review folder or an inbound folder is often a disk of its own.
When that disk is not mounted, its mount point is an empty folder of the disk above
it; a daemon that created folders there, or moved files in, would hide them under the
mount point once the disk is back. So nothing is moved into a configured folder that
is missing (a review folder alone may be created, inside a parent that is there) or
whose filesystem is not the one it had when the daemon started (or when it was first
seen): the file waits where it is, and status says why. After a change that is meant
(a disk moved), `reload` takes the filesystems as they are.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ..config import Config


class Mounts:
    def __init__(self, config: Config) -> None:
        self.roots: dict[Path, bool] = {}  # configured folder → may be created
        for watch in config.watches:
            self.roots.update({watch.inbound: False, watch.destination_root: False, watch.review: True})
        # The filesystem of each (and of a review folder's parent), as first seen.
        self.devices: dict[Path, int] = {}
        for folder in [*self.roots, *(f.parent for f, create in self.roots.items() if create)]:
            if (device := _device(folder)) is not None:
                self.devices[folder] = device

    def follow(self, config: Config) -> Mounts:
        """The same for a changed configuration: the folders it still names keep the
        filesystem they were first seen on (only a reload takes them as they are now)."""
        mounts = Mounts(config)
        mounts.devices.update({f: d for f, d in self.devices.items() if f in mounts.devices})
        return mounts

    def problem(self, folder: Path) -> str | None:
        """Why nothing may be moved into `folder` now, or None when it may."""
        roots = [root for root in self.roots if folder.is_relative_to(root)]
        if not roots:
            return None  # not a configured folder's: not ours to judge
        root = max(roots, key=lambda r: len(r.parts))
        return self._check(root, self.roots[root])

    def problems(self) -> list[str]:
        """What is wrong with every configured folder now (for status)."""
        return [why for root, create in self.roots.items() if (why := self._check(root, create))]

    def _check(self, folder: Path, may_create: bool) -> str | None:
        device = _device(folder)
        if device is None:
            if may_create and self._check(folder.parent, False) is None:
                return None
            return f"{folder} is missing (a disk not mounted?); files wait until it is back"
        first = self.devices.setdefault(folder, device)
        if device != first:
            return (f"{folder} is on another filesystem than when facewatchd started (a disk not"
                    " mounted, or mounted since?); files wait: `facewatchctl reload` takes it as it is")
        return None


def _device(folder: Path) -> int | None:
    try:
        st = os.stat(folder)
    except OSError:
        return None
    return st.st_dev if stat.S_ISDIR(st.st_mode) else None
