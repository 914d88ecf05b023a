"""The control socket's file: made (mode 0660, the right group, no window in which
others could connect) or taken from systemd (socket activation)."""

from __future__ import annotations

import grp
import os
import socket
from pathlib import Path

from ..errors import ConfigError


def group_gid(name: str) -> int:
    """The id of the group whose members may use the socket."""
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        raise ConfigError(f"[daemon] group: no such group {name!r}") from None


def inherited_socket() -> socket.socket | None:
    """The listening socket systemd passed (socket activation), if it did."""
    import systemd.daemon

    fds: list[int] = systemd.daemon.listen_fds()
    return socket.socket(fileno=fds[0]) if fds else None


def bind(path: Path, gid: int) -> socket.socket:
    """A listening socket at `path`, mode 0660 from its first instant, in group `gid`; a
    socket left by a daemon that died is replaced, one that answers is not."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() or path.is_symlink():
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(str(path))
        except OSError:
            path.unlink()  # left by a daemon that died
        else:
            raise ConfigError(f"{path}: another facewatchd is already listening there")
        finally:
            probe.close()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        # Created with mode 0660 from the start: no window in which others could connect.
        old = os.umask(0o117)
        try:
            sock.bind(str(path))
        finally:
            os.umask(old)
        # Only when needed: under systemd the service may not chown (and has Group= for this).
        if path.stat().st_gid != gid:
            os.chown(path, -1, gid)
        sock.listen(16)
    except OSError as e:
        sock.close()
        raise ConfigError(f"{path}: cannot create the control socket with group {gid}: "
                          f"{e.strerror or e}") from None
    return sock
