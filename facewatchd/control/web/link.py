"""The web process's connections to the daemon: a few control clients shared by the
server's worker threads, one request at a time on each.

The daemon answers a connection's requests in order and drops connections idle for
its IDLE_TIMEOUT (or all of them when it restarts), so an idle connection is checked
before it is used again: one that is readable was closed by the daemon, and a new one
is made. A request is never sent twice: a connection lost after sending is an error
for the caller (a POST may have been done), not a silent retry.
"""

from __future__ import annotations

import os
import select
import threading
from pathlib import Path
from typing import Any

from ..client import AnswerError, Client

CONNECTIONS = 4  # requests of the page under way in the daemon at once (its MAX_PENDING a connection)


class DaemonLink:
    def __init__(self, socket_path: Path, connections: int = CONNECTIONS) -> None:
        self.socket_path = socket_path
        self._idle: list[Client] = []
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(connections)

    def call(self, cmd: str, args: dict[str, Any]) -> Any:
        result, fd = self.call_fd(cmd, args)
        if fd is not None:
            os.close(fd)
        return result

    def call_fd(self, cmd: str, args: dict[str, Any]) -> tuple[Any, int | None]:
        """The result, and the descriptor the answer carried (the caller closes it).
        Raises AnswerError for the daemon's error answers, FacewatchError (unavailable,
        not allowed) when it could not be asked."""
        with self._slots:
            client = self._take()
            try:
                answer = client.call_fd(cmd, args)
            except AnswerError:
                self._give_back(client)  # answered: the connection is fine
                raise
            except BaseException:
                client.close()
                raise
            self._give_back(client)
            return answer

    def _take(self) -> Client:
        with self._lock:
            while self._idle:
                client = self._idle.pop()
                if _alive(client):
                    return client
                client.close()
        return Client(self.socket_path)

    def _give_back(self, client: Client) -> None:
        with self._lock:
            self._idle.append(client)

    def close(self) -> None:
        with self._lock:
            for client in self._idle:
                client.close()
            self._idle = []


def _alive(client: Client) -> bool:
    """An idle connection has nothing to read; if it has, the daemon closed it."""
    try:
        readable, _, _ = select.select([client.sock], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable and not client.buffer
