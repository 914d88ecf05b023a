"""Signals, handled in one place: the first SIGTERM or SIGINT drains, the second forces.

Handlers only set flags; the main loop looks at them between files, so a move is
never interrupted halfway.
"""

from __future__ import annotations

import logging
import signal

log = logging.getLogger("facewatchd")


class Shutdown:
    def __init__(self) -> None:
        self.requested = False
        self.forced = False

    def install(self) -> Shutdown:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        return self

    def _on_signal(self, signum: int, _frame: object) -> None:
        name = signal.Signals(signum).name
        if self.requested:
            self.forced = True
            log.warning("%s again: stopping now; files being analysed stay in inbound", name)
        else:
            self.requested = True
            log.info("%s: finishing the files in flight, then stopping (send again to force)", name)
