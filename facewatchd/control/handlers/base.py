"""What every handler shares: the daemon they act on (as an interface, so this layer
never imports the service that runs it), the asker, and the registry that dispatch
goes through.

A handler is a function registered for a command of the table: it gets a Context and
the request's arguments (those of SELECT as one `selection`), and returns its answer,
or a generator that the daemon runs as a task (steps.py) and whose return is the answer.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ...config import Config
from ...errors import NotAllowedError, NotFoundError, UsageError
from ...files import route
from ...files.review import ReviewQueue
from ...files.sorter import Sorter
from ...state import Store
from ...steps import Future, Step
from ..peer import Peer
from ..protocol import Request
from ..table import COMMANDS


class Inbound(Protocol):
    """What the handlers ask of the daemon's intake (service/intake.py)."""

    def scan_all(self, why: str) -> None: ...

    def add_scan(self, label: str, folder: Path, recursive: bool) -> None: ...

    def retry_now(self) -> None: ...

    def release(self, path: Path) -> bool: ...


class Service(Protocol):
    """What the handlers need of the running daemon."""

    config: Config
    store: Store
    sorter: Sorter

    @property
    def intake(self) -> Inbound: ...

    @property
    def review(self) -> ReviewQueue: ...

    def status(self) -> dict[str, Any]: ...

    def references_changed(self, taught: dict[str, list[int]] | None = None) -> Step: ...

    def request_reload(self, why: str = "reload") -> Future: ...


@dataclass(frozen=True)
class Selection:
    """How a batch command names review items: ids, or all matching filters."""

    ids: list[int] | None = None
    all: bool = False
    reason: str | None = None
    nearest: str | None = None
    limit: int | None = None


@dataclass(frozen=True)
class Context:
    service: Service
    peer: Peer

    @property
    def review(self) -> ReviewQueue:
        return self.service.review

    def readable(self, file: str) -> str:
        """A file the daemon may read for this client: only inside the daemon's own
        folders, and only one the client could read itself. Whether a path exists is
        said only once the client may look there."""
        path = os.path.normpath(file)
        if not os.path.isabs(path):
            raise UsageError(f"{file}: give an absolute path")
        real = Path(os.path.realpath(path))
        if not self.ours(real):
            raise NotAllowedError(f"{file}: facewatchd reads files only in its own folders "
                                  "(references, inbound, destinations, review); copy it into one of them")
        if not self.peer.may_read(real):
            raise NotAllowedError(f"{file}: you may not read it")
        if not os.path.lexists(path):
            raise NotFoundError(f"{file}: no such file")
        return path

    def ours(self, real: Path) -> bool:
        """Whether a real path (symlinks resolved) lies in the daemon's own folders."""
        config = self.service.config
        folders = [config.recognition.references] + [
            folder for w in config.watches for folder in (w.inbound, w.destination_root, w.review)]
        return any(real.is_relative_to(os.path.realpath(f)) for f in folders)

    def open_ours(self, path: Path, *, size: int | None = None, sha256: str | None = None,
                  within: Path | None = None) -> int | None:
        """A read-only descriptor of the regular file at `path`, if it lies in the
        daemon's own folders or in `within` (checked on the file opened, so a symlinked
        folder cannot send it elsewhere) and has the expected size or content; else None."""
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            return None
        try:
            st = os.fstat(fd)
            real = Path(os.readlink(f"/proc/self/fd/{fd}"))
            inside = within is not None and real.is_relative_to(os.path.realpath(within))
            if (stat.S_ISREG(st.st_mode) and (inside or self.ours(real))
                    and size in (None, st.st_size) and sha256 in (None, route.hash_fd(fd))):
                return fd
        except OSError:
            pass
        os.close(fd)
        return None



def with_entries(ctx: Context, results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each result of files moved, with the ledger entry its move made (`entry`; None
    when the file was moved again since): an undo of exactly these moves names them."""
    for result in results:
        if result.get("ok", True) and "path" in result:
            entry = ctx.service.store.current_at(result["path"])
            result["entry"] = entry.id if entry is not None else None
    return results


Handler = Callable[..., Any]
HANDLERS: dict[str, Handler] = {}


def handles(name: str) -> Callable[[Handler], Handler]:
    """Register a function as the handler of command `name` (which the table declares)."""
    if name not in COMMANDS:
        raise KeyError(f"no command {name!r} in the table")

    def register(handler: Handler) -> Handler:
        HANDLERS[name] = handler
        return handler

    return register


def dispatch(service: Service, peer: Peer, request: Request) -> Any:
    """Run the request's handler: its answer, or a generator to run as a task."""
    command = COMMANDS[request.cmd]
    args = dict(request.args)
    if command.selects:
        args["selection"] = Selection(args.pop("ids", None), bool(args.pop("all", False)),
                                      args.pop("reason", None), args.pop("nearest", None),
                                      args.pop("limit", None))
    return HANDLERS[request.cmd](Context(service, peer), **args)
