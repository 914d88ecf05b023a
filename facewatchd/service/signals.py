"""Signals, handled in one place: the first SIGTERM or SIGINT drains, the second
forces; SIGHUP asks for a reload.

Handlers only set flags (and, through the wake-up fd, interrupt the main loop's
wait); the loop acts on them between files, so a move is never interrupted halfway.
"""

from __future__ import annotations

import logging
import signal

log = logging.getLogger("facewatchd")


class Signals:
    def __init__(self) -> None:
        self.stop_requested = False
        self.forced = False
        self.reload_requested = False

    def install(self, wakeup_fd: int | None = None) -> Signals:
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        signal.signal(signal.SIGHUP, self._on_reload)
        if wakeup_fd is not None:
            signal.set_wakeup_fd(wakeup_fd, warn_on_full_buffer=False)
        return self

    def take_reload(self) -> bool:
        requested, self.reload_requested = self.reload_requested, False
        return requested

    def _on_stop(self, signum: int, _frame: object) -> None:
        name = signal.Signals(signum).name
        if self.stop_requested:
            self.forced = True
            log.warning("%s again: stopping now; files being analysed stay in inbound", name)
        else:
            self.stop_requested = True
            log.info("%s: finishing the files in flight, then stopping (send again to force)", name)

    def _on_reload(self, _signum: int, _frame: object) -> None:
        self.reload_requested = True
