"""Who is on the other end of a control connection (SO_PEERCRED), and what they may read.

The daemon reads files for clients (`test`, `enroll`): only those the client could
read itself, so the control group cannot have the daemon read anything else.
"""

from __future__ import annotations

import os
import pwd
import stat
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Peer:
    pid: int
    uid: int
    gid: int
    # The groups the peer's process had when it connected (SO_PEERGROUPS), as the kernel
    # checks them. None: unknown, then the group database is asked.
    supplementary: tuple[int, ...] | None = None

    @property
    def name(self) -> str:
        """The user's name (their uid where the system knows none): who did something."""
        try:
            return pwd.getpwuid(self.uid).pw_name
        except KeyError:
            return str(self.uid)

    def groups(self) -> set[int]:
        if self.supplementary is not None:
            # A service's SupplementaryGroups= (facewatchd-web's DynamicUser in the
            # daemon's group) is in no group database.
            return {self.gid, *self.supplementary}
        try:
            user = pwd.getpwuid(self.uid)
        except KeyError:
            return {self.gid}
        return {self.gid, *os.getgrouplist(user.pw_name, user.pw_gid)}

    def may(self, st: os.stat_result, bit: int) -> bool:
        """Whether the mode bits let this peer read (4) or search (1) what `st` describes,
        as the kernel decides for owner, group and others (ACLs are not consulted)."""
        if self.uid == 0:
            return True
        if st.st_uid == self.uid:
            return bool(st.st_mode & (bit << 6))
        if st.st_gid in self.groups():
            return bool(st.st_mode & (bit << 3))
        return bool(st.st_mode & bit)


    def may_read(self, path: Path) -> bool:
        """Whether this peer could open `path` for reading itself: search permission on
        every folder above it, then read permission on the file (when it exists:
        whether it does is said only to a peer who may look)."""
        for folder in reversed(path.parents):
            try:
                st = os.stat(folder)
            except OSError:
                return True  # not there: the caller will say so, as the peer could see
            if not self.may(st, 1):
                return False
        try:
            st = os.stat(path)
        except OSError:
            return True
        return stat.S_ISDIR(st.st_mode) or self.may(st, 4)
