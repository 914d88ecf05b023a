"""The error hierarchy, mapped to exit codes (sysexits.h) and protocol error codes.

Only the boundaries (the command line, later the control socket) turn these into
exit statuses or error replies; everything inside raises them.
"""

from __future__ import annotations


class FacewatchError(Exception):
    """Base of every error facewatchd reports on purpose."""

    exit_code = 70  # EX_SOFTWARE
    code = "internal"


class UsageError(FacewatchError):
    """A command asks for something that makes no sense (a name that cannot be a folder)."""

    exit_code = 64  # EX_USAGE
    code = "bad_args"  # protocol.BAD_ARGS


class ConfigError(FacewatchError):
    """The configuration file is missing, malformed or names something unusable."""

    exit_code = 78  # EX_CONFIG
    code = "bad_config"


class MediaError(FacewatchError):
    """One file cannot be read or decoded. Never fatal: the file is set aside."""

    exit_code = 65  # EX_DATAERR
    code = "bad_media"


class RouteError(FacewatchError):
    """A file could not be moved; it stays where it was."""

    exit_code = 73  # EX_CANTCREAT
    code = "route_failed"


class RefusedError(FacewatchError):
    """A request about one file that cannot be done as asked; the file stays put."""

    exit_code = 65  # EX_DATAERR
    code = "refused"


class StoreError(FacewatchError):
    """The state database cannot be opened or has an unknown schema."""

    exit_code = 74  # EX_IOERR
    code = "store"


class StoppingError(FacewatchError):
    """Work that was under way when the daemon began to stop; ask again once it is back."""

    exit_code = 75  # EX_TEMPFAIL
    code = "stopping"
