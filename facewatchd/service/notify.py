"""Talking to systemd: READY, STATUS, RELOADING, STOPPING, start-up extensions and
watchdog pings.

Does nothing when NOTIFY_SOCKET is unset (not started by systemd). The watchdog
interval comes from WATCHDOG_USEC; the main loop (and a long copy, between its
chunks) calls `keepalive` often, which pings at half the interval once the daemon
is ready, so a loop that hangs is restarted. Before READY the watchdog is not armed
but the start timeout is: enrolling a large references folder would outlast it, so
until then `keepalive` extends the start-up with EXTEND_TIMEOUT_USEC instead.

A message that cannot be sent (the socket gone: systemd re-executed, a stale
NOTIFY_SOCKET in a container) never changes what the daemon does: it is said once
in the log, and the daemon carries on, and stops when told.
"""

from __future__ import annotations

import logging
import os
import time

import systemd.daemon

log = logging.getLogger("facewatchd")

EXTEND_EVERY = 10.0  # seconds between start-up extensions (each for three times that)


class Notifier:
    def __init__(self) -> None:
        usec = os.environ.get("WATCHDOG_USEC", "")
        pid = os.environ.get("WATCHDOG_PID", str(os.getpid()))
        self.interval = int(usec) / 2e6 if usec.isdigit() and pid == str(os.getpid()) else None
        self.extend_every = min(EXTEND_EVERY, self.interval or EXTEND_EVERY)
        self.is_ready = False
        self._next_ping = time.monotonic()
        self._failing = False

    def send(self, message: str) -> None:
        try:
            systemd.daemon.notify(message)
        except OSError as e:
            if not self._failing:
                log.warning("cannot tell systemd how the daemon is (NOTIFY_SOCKET=%s): %s;"
                            " carrying on", os.environ.get("NOTIFY_SOCKET"), e.strerror or e)
            self._failing = True
        else:
            self._failing = False

    def ready(self, status: str) -> None:
        self.is_ready = True
        self.send(f"READY=1\nSTATUS={status}")
        self._next_ping = time.monotonic()  # the watchdog is armed from now on

    def status(self, status: str) -> None:
        self.send(f"STATUS={status}")

    def reloading(self) -> None:
        # MONOTONIC_USEC lets systemd >= 253 match this to the reload it asked for.
        self.send(f"RELOADING=1\nMONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}")

    def stopping(self) -> None:
        self.send("STOPPING=1")

    def keepalive(self) -> None:
        """Say the daemon is working: a watchdog ping once ready, a longer start-up before."""
        now = time.monotonic()
        if now < self._next_ping:
            return
        if not self.is_ready:
            self.send(f"EXTEND_TIMEOUT_USEC={int(3 * self.extend_every * 1e6)}")
            self._next_ping = now + self.extend_every
        elif self.interval is not None:
            self.send("WATCHDOG=1")
            self._next_ping = now + self.interval
        else:
            self._next_ping = float("inf")

    def next_ping(self) -> float | None:
        if self.is_ready and self.interval is None:
            return None
        return max(0.0, self._next_ping - time.monotonic())
