"""One error vocabulary: the codes, the hierarchy that raises them, and, once, what each
code means at the boundaries (an exit status of facewatchd or facewatchctl, sysexits.h;
the code of a protocol error; an HTTP status for the review page).

Everything inside raises these; only the boundaries turn them into exit statuses,
error answers or HTTP statuses, through the tables below.
"""

from __future__ import annotations

from enum import StrEnum


class Code(StrEnum):
    """What went wrong, as the protocol says it (the values are the wire's)."""

    BAD_REQUEST = "bad_request"  # not a request at all
    UNKNOWN_COMMAND = "unknown_command"
    UNSUPPORTED_VERSION = "unsupported_version"
    BAD_ARGS = "bad_args"  # a request that makes no sense
    NOT_FOUND = "not_found"
    NOT_ALLOWED = "not_allowed"
    REFUSED = "refused"  # about one file: cannot be done as asked
    ROUTE_FAILED = "route_failed"  # a file could not be moved
    CHANGED = "changed"  # what the asker was shown is not so any more: look again
    BAD_MEDIA = "bad_media"
    BAD_CONFIG = "bad_config"
    STORE = "store"  # the state database
    STOPPING = "stopping"  # the daemon began to stop
    BUSY = "busy"  # too many clients
    UNAVAILABLE = "unavailable"  # no daemon to ask (the client's own); no Dask scheduler
    INTERNAL = "internal"  # a bug


# sysexits.h
EXIT_STATUS: dict[Code, int] = {
    Code.BAD_REQUEST: 64, Code.UNKNOWN_COMMAND: 64, Code.UNSUPPORTED_VERSION: 64,
    Code.BAD_ARGS: 64, Code.BAD_MEDIA: 65, Code.REFUSED: 65, Code.NOT_FOUND: 66,
    Code.UNAVAILABLE: 69, Code.INTERNAL: 70, Code.ROUTE_FAILED: 73, Code.STORE: 74,
    Code.BUSY: 75, Code.STOPPING: 75, Code.CHANGED: 75, Code.NOT_ALLOWED: 77, Code.BAD_CONFIG: 78,
}
HTTP_STATUS: dict[Code, int] = {
    Code.BAD_REQUEST: 400, Code.UNKNOWN_COMMAND: 404, Code.UNSUPPORTED_VERSION: 400,
    Code.BAD_ARGS: 400, Code.BAD_MEDIA: 422, Code.REFUSED: 409, Code.NOT_FOUND: 404,
    Code.UNAVAILABLE: 503, Code.INTERNAL: 500, Code.ROUTE_FAILED: 409, Code.STORE: 503,
    Code.BUSY: 503, Code.STOPPING: 503, Code.CHANGED: 409, Code.NOT_ALLOWED: 403, Code.BAD_CONFIG: 409,
}
BATCH_FAILED = EXIT_STATUS[Code.REFUSED]  # some items of a batch could not be done


def exit_status(code: str) -> int:
    """The exit status for a code (an unknown one, from a newer daemon: 1)."""
    try:
        return EXIT_STATUS[Code(code)]
    except ValueError:
        return 1


class FacewatchError(Exception):
    """Base of every error facewatchd reports on purpose. `code` says what it is."""

    code = Code.INTERNAL

    def __init__(self, message: str, code: Code | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def exit_status(self) -> int:
        return EXIT_STATUS[self.code]


class UsageError(FacewatchError):
    """A command asks for something that makes no sense (a name that cannot be a folder)."""

    code = Code.BAD_ARGS


class NotFoundError(FacewatchError):
    """What a command names (an item, a reference, a file) is not there."""

    code = Code.NOT_FOUND


class NotAllowedError(FacewatchError):
    """The asker may not have this done (a file outside the daemon's folders)."""

    code = Code.NOT_ALLOWED


class ConfigError(FacewatchError):
    """The configuration file is missing, malformed or names something unusable."""

    code = Code.BAD_CONFIG


class MediaError(FacewatchError):
    """One file cannot be read or decoded. Never fatal: the file is set aside."""

    code = Code.BAD_MEDIA


class RouteError(FacewatchError):
    """A file could not be moved; it stays where it was."""

    code = Code.ROUTE_FAILED


class RefusedError(FacewatchError):
    """A request about one file that cannot be done as asked; the file stays put."""

    code = Code.REFUSED


class StoreError(FacewatchError):
    """The state database cannot be opened or has an unknown schema."""

    code = Code.STORE


class UnavailableError(FacewatchError):
    """Something facewatchd needs is not there: the Dask scheduler of [cluster] when
    --oneshot starts (nothing is moved then)."""

    code = Code.UNAVAILABLE


class StoppingError(FacewatchError):
    """Work that was under way when the daemon began to stop; ask again once it is back."""

    code = Code.STOPPING
