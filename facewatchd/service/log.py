"""Logging: readable lines on stderr in a terminal, structured fields to journald under systemd.

Log calls pass structured fields as `extra={"FACEWATCH_PATH": ...}`; the journald
handler sends them as journal fields (with PRIORITY, CODE_* and SYSLOG_IDENTIFIER),
the terminal format leaves them out. "auto" picks journald when stderr is connected
to the journal, which systemd announces in JOURNAL_STREAM as the device:inode of
that stream.
"""

from __future__ import annotations

import logging
import os
import sys

TARGETS = ("auto", "journal", "stderr")


def setup(verbosity: int = 0, target: str = "auto") -> None:
    level = logging.WARNING if verbosity < 0 else logging.DEBUG if verbosity > 0 else logging.INFO
    if to_journal(target):
        from systemd.journal import JournalHandler

        handler: logging.Handler = JournalHandler(SYSLOG_IDENTIFIER="facewatchd")
        handler.setFormatter(logging.Formatter("%(message)s"))
        handler.addFilter(_printable_names)
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("facewatchd: %(levelname)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # watchdog's own info lines are noise for our users; its warnings are not.
    logging.getLogger("watchdog").setLevel(max(level, logging.WARNING))


def to_journal(target: str) -> bool:
    """Whether logs go to journald (TARGETS: asked for, or auto and run by systemd)."""
    return target == "journal" or (target == "auto" and stderr_is_journal())


def stderr_is_journal() -> bool:
    stream = os.environ.get("JOURNAL_STREAM", "")
    try:
        device, inode = (int(x) for x in stream.split(":"))
        st = os.fstat(sys.stderr.fileno())
    except (ValueError, OSError):
        return False
    return (st.st_dev, st.st_ino) == (device, inode)


def _printable_names(record: logging.LogRecord) -> bool:
    """journald's handler drops a record whose text is not UTF-8, as a file name may be
    (its bytes kept as surrogates by os.fsdecode): write those bytes as \\xNN instead."""
    record.msg, record.args = _printable(record.getMessage()), ()
    for key, value in list(vars(record).items()):
        if key.startswith("FACEWATCH_") and isinstance(value, str):
            setattr(record, key, _printable(value))
    return True


def _printable(text: str) -> str:
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


class LastError(logging.Handler):
    """Keeps the last warning or error logged: what `status` shows as the last error."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.text: str | None = None
        self.time: float | None = None

    def emit(self, record: logging.LogRecord) -> None:
        self.text, self.time = record.getMessage(), record.created
