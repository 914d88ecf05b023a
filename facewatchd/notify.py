"""Talking to systemd: READY, STATUS, RELOADING, STOPPING and watchdog pings.

Does nothing when NOTIFY_SOCKET is unset (not started by systemd). The watchdog
interval comes from WATCHDOG_USEC; the main loop pings at half of it, so a loop
that hangs is restarted by systemd.
"""

from __future__ import annotations

import os
import time

from systemd import daemon


class Notifier:
    def __init__(self) -> None:
        usec = os.environ.get("WATCHDOG_USEC", "")
        pid = os.environ.get("WATCHDOG_PID", str(os.getpid()))
        self.interval = int(usec) / 2e6 if usec.isdigit() and pid == str(os.getpid()) else None
        self._next_ping = time.monotonic()

    def send(self, message: str) -> None:
        daemon.notify(message)

    def ready(self, status: str) -> None:
        self.send(f"READY=1\nSTATUS={status}")

    def status(self, status: str) -> None:
        self.send(f"STATUS={status}")

    def reloading(self) -> None:
        # MONOTONIC_USEC lets systemd >= 253 match this to the reload it asked for.
        self.send(f"RELOADING=1\nMONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}")

    def stopping(self) -> None:
        self.send("STOPPING=1")

    def ping(self) -> None:
        if self.interval is not None and time.monotonic() >= self._next_ping:
            self.send("WATCHDOG=1")
            self._next_ping = time.monotonic() + self.interval

    def next_ping(self) -> float | None:
        return None if self.interval is None else max(0.0, self._next_ping - time.monotonic())
