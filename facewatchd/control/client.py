"""A client of the control socket: one request at a time, answers as data.

Used by facewatchctl and by the review page's server; errors come back as
FacewatchError with the daemon's code (or UNAVAILABLE when there is no daemon).
"""

from __future__ import annotations

import os
import socket
import tomllib
from pathlib import Path
from typing import Any

from ..config import DaemonConfig
from ..errors import Code, FacewatchError, exit_status
from . import protocol


class AnswerError(FacewatchError):
    """The daemon's error answer: its message, and its code as the daemon said it."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message, Code(code) if code in Code.__members__.values() else Code.INTERNAL)
        self.wire_code = code

    @property
    def exit_status(self) -> int:
        return exit_status(self.wire_code)


def socket_path(config: Path) -> Path:
    """The control socket a configuration file names (its default if it cannot be read)."""
    try:  # only the [daemon] table: the other folders may not be readable by this user
        with config.open("rb") as f:
            daemon = tomllib.load(f).get("daemon", {})
        return config.resolve().parent / str(daemon.get("socket", DaemonConfig.socket))
    except (OSError, tomllib.TOMLDecodeError):
        return DaemonConfig.socket



class Client:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.sock.connect(str(path))
        except (FileNotFoundError, ConnectionRefusedError):
            raise FacewatchError(f"facewatchd is not running (nothing listens at {path})", Code.UNAVAILABLE) from None
        except PermissionError:
            raise FacewatchError(f"not allowed to use {path}: ask to be added to the daemon's group",
                                 Code.NOT_ALLOWED) from None
        self.buffer = bytearray()  # read, not yet answered
        self.next_id = 0

    def close(self) -> None:
        self.sock.close()

    def call(self, cmd: str, args: dict[str, Any]) -> Any:
        result, fd = self.call_fd(cmd, args)
        if fd is not None:
            os.close(fd)
        return result

    def call_fd(self, cmd: str, args: dict[str, Any]) -> tuple[Any, int | None]:
        """Send one request: its result, and the descriptor its answer carried, if any
        (the caller's to close)."""
        self.next_id += 1
        fds: list[int] = []
        try:
            try:
                self.sock.sendall(protocol.request(self.next_id, cmd, args))
                line = self._readline(fds)
            except OSError as e:
                raise FacewatchError(f"lost the connection to facewatchd: {e.strerror}",
                                     Code.UNAVAILABLE) from None
            if not line:
                raise FacewatchError("facewatchd closed the connection without answering",
                                     Code.UNAVAILABLE)
            answer = protocol.parse_response(line)
            if not answer["ok"]:
                error = answer["error"]
                raise AnswerError(error["message"], error["code"])
        except BaseException:
            _close_all(fds)
            raise
        _close_all(fds[1:])
        return answer["result"], (fds[0] if fds else None)

    def _readline(self, fds: list[int]) -> bytes:
        """One answer line (b"" if the daemon closed); descriptors that came with its
        bytes are added to `fds`. One request is under way at a time, so whatever
        arrives belongs to its answer."""
        while (end := self.buffer.find(b"\n")) < 0:
            data, passed, _, _ = socket.recv_fds(self.sock, 65536, 4, socket.MSG_CMSG_CLOEXEC)
            fds.extend(passed)
            if not data:
                return b""
            self.buffer += data
        line = bytes(self.buffer[:end + 1])
        del self.buffer[:end + 1]
        return line

    def call_all_pages(self, cmd: str, args: dict[str, Any]) -> list[Any]:
        """Every item of a paged command (up to args' limit), fetched a page at a time."""
        wanted = args.get("limit")
        offset = args.get("offset", 0)
        items: list[Any] = []
        while wanted is None or len(items) < wanted:
            ask = {**args, "offset": offset + len(items)}
            if wanted is not None:
                ask["limit"] = wanted - len(items)
            page = self.call(cmd, ask)
            items += page["items"]
            if not page["items"] or offset + len(items) >= page["total"]:
                break
        return items


def _close_all(fds: list[int]) -> None:
    for fd in fds:
        os.close(fd)
