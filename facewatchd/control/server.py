"""The control socket server: Unix stream socket, peer credentials, JSON lines.

Non-blocking and served from the daemon's one loop, so handlers run on the main
thread beside the sorter and the store keeps a single writer. Every limit is
bounded: line length, connections, idle time, and, per connection, the requests
under way (MAX_PENDING) and the answers not yet read: past either, the server reads
nothing more from that client until it catches up, so its own requests wait in its
socket, not in the daemon. An answer is never cut, whatever its size; a client that
stops reading its answers altogether is dropped after STALLED seconds. A peer that
is not root, the daemon's user or a member of the configured group gets one
not_allowed answer and is disconnected.

An answer may carry an open file (protocol.Descriptor): it is queued with where its
line lies in the output, and that line is sent alone (SCM_RIGHTS on its first byte).
A read on the other end stops after the bytes that came with descriptors, so a client
knows whose they are: those of the last line that begins in that read. The daemon's
copy is closed once sent, or when the connection goes.
"""

from __future__ import annotations

import logging
import os
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import Code, FacewatchError
from . import protocol
from .listener import bind, group_gid, inherited_socket
from .peer import Peer

log = logging.getLogger("facewatchd.control")

MAX_CONNECTIONS = 64
MAX_PENDING = 4  # requests of one connection under way at once (a `test` each is in the pool)
HIGH_WATER = 256 << 10  # bytes of unread answers past which a client's requests wait
STALLED = 30.0  # seconds an unread answer may make no progress before the client is dropped
IDLE_TIMEOUT = 300.0  # seconds without a request or a pending answer
LINGER = 2.0  # seconds a refused client has to read its answer
SO_PEERGROUPS = getattr(socket, "SO_PEERGROUPS", 59)  # not in Python's socket module; asm-generic


@dataclass(eq=False)
class Connection:
    sock: socket.socket
    peer: Peer
    inbuf: bytearray = field(default_factory=bytearray)
    outbuf: bytearray = field(default_factory=bytearray)
    last_active: float = field(default_factory=time.monotonic)
    last_sent: float = field(default_factory=time.monotonic)
    pending: int = 0  # requests whose answer comes later
    closed: bool = False
    # Descriptors to pass, in order: (start, end) of the answer in outbuf that carries it, fd.
    fds: list[tuple[int, int, int]] = field(default_factory=list)

    def fileno(self) -> int:
        return self.sock.fileno()

    @property
    def paused(self) -> bool:
        """Too much under way or unread: its further requests wait (in its socket)."""
        return self.pending >= MAX_PENDING or len(self.outbuf) > HIGH_WATER


# Returns the answer, or None when it will come later through `reply`.
Handler = Callable[[Connection, protocol.Request], protocol.Answer | None]


class ControlServer:
    def __init__(self, path: Path, group: str | None, handle: Handler) -> None:
        self.path, self.handle = path, handle
        # Without a configured group, the daemon's own: the group the socket file gets.
        self.group_gid = group_gid(group) if group else os.getegid()
        self.listener: socket.socket | None = None
        self.created_socket = False  # False when systemd passed it in (and owns the file)
        self.connections: list[Connection] = []
        self.refused: list[tuple[socket.socket, float]] = []  # answered, closing: see _refuse

    def listen(self) -> None:
        """Take the socket systemd passed (socket activation), or create it."""
        inherited = inherited_socket()
        if inherited is not None:
            self.listener = inherited
        else:
            self.listener = bind(self.path, self.group_gid)
            self.created_socket = True
        self.listener.setblocking(False)

    def close(self) -> None:
        for conn in self.connections:
            _close_fds(conn)
            conn.sock.close()
        for sock, _ in self.refused:
            sock.close()
        self.connections, self.refused = [], []
        if self.listener is not None:
            self.listener.close()
            self.listener = None

    def has_unsent(self) -> bool:
        return any(c.outbuf for c in self.connections)

    def waitables(self) -> list[Any]:
        return (([self.listener] if self.listener else [])
                + [c for c in self.connections if not c.paused and not c.closed]
                + [sock for sock, _ in self.refused])

    def service(self, ready: set[object]) -> None:
        """Accept, read and answer what is ready; flush; drop idle or stuck clients."""
        if self.listener in ready:
            self._accept()
        now = time.monotonic()
        self._service_refused(ready, now)
        for conn in list(self.connections):
            if conn in ready and not conn.paused:
                self._read(conn)
            self._flush(conn)
            self._answer_buffered(conn)
            if conn.closed:
                continue
            if conn.outbuf and now - conn.last_sent > STALLED:
                self._drop(conn, "not reading its answers")
            elif not conn.pending and not conn.outbuf and now - conn.last_active > IDLE_TIMEOUT:
                self._drop(conn, "idle")
        self.connections = [c for c in self.connections if not c.closed]

    def reply(self, conn: Connection, answer: protocol.Answer) -> None:
        conn.pending -= 1
        _queue(conn, answer)
        if not conn.closed:
            self._flush(conn)
            self._answer_buffered(conn)

    def _accept(self) -> None:
        assert self.listener is not None
        while True:
            try:
                sock, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:  # EMFILE and friends: try again on the next wake-up
                log.warning("cannot accept a control connection: %s", e.strerror)
                return
            sock.setblocking(False)
            pid, uid, gid = struct.unpack("3i", sock.getsockopt(
                socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
            conn = Connection(sock, Peer(pid, uid, gid, _peer_groups(sock)))
            if not self._allowed(conn.peer):
                log.warning("refused a control connection from uid %d (pid %d)", uid, pid)
                self._refuse(conn, Code.NOT_ALLOWED,
                             "not allowed: ask to be added to the daemon's group")
            elif len(self.connections) >= MAX_CONNECTIONS:
                self._refuse(conn, Code.BUSY, "too many control connections")
            else:
                self.connections.append(conn)

    def _allowed(self, peer: Peer) -> bool:
        return peer.uid in (0, os.geteuid()) or self.group_gid in peer.groups()

    def _refuse(self, conn: Connection, code: Code, message: str) -> None:
        """Answer with the error and close, gently: a close with the client's request
        still unread would reset the connection and destroy the answer before it is read.
        So stop writing, read and discard until the client closes (or LINGER passes)."""
        try:
            conn.sock.send(protocol.error(None, code, message))
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError:
            conn.sock.close()
            return
        if len(self.refused) >= MAX_CONNECTIONS:
            self._close_refused(self.refused.pop(0)[0])
        self.refused.append((conn.sock, time.monotonic() + LINGER))

    def _service_refused(self, ready: set[object], now: float) -> None:
        for sock, deadline in list(self.refused):
            if sock in ready:
                try:
                    if sock.recv(65536):
                        continue
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    pass
            elif now < deadline:
                continue
            self._close_refused(sock)

    def _close_refused(self, sock: socket.socket) -> None:
        self.refused = [(s, d) for s, d in self.refused if s is not sock]
        sock.close()

    def _read(self, conn: Connection) -> None:
        try:
            data = conn.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._drop(conn, None)
            return
        conn.last_active = time.monotonic()
        conn.inbuf += data
        self._answer_buffered(conn)

    def _answer_buffered(self, conn: Connection) -> None:
        """Answer the complete request lines read so far, while the client keeps up."""
        while not conn.closed and not conn.paused and (end := conn.inbuf.find(b"\n")) >= 0:
            line = bytes(conn.inbuf[:end])
            del conn.inbuf[:end + 1]
            if line.strip():
                self._answer(conn, line)
        if not conn.closed and b"\n" not in conn.inbuf and len(conn.inbuf) > protocol.MAX_LINE:
            conn.outbuf += protocol.error(None, Code.BAD_REQUEST, "request line too long")
            self._flush(conn)
            self._drop(conn, "line too long")

    def _answer(self, conn: Connection, line: bytes) -> None:
        try:
            request = protocol.parse_request(line)
        except protocol.ProtocolError as e:
            conn.outbuf += protocol.error(e.request_id, e.code, str(e))
            return
        except Exception as e:  # a parser bug must not take the daemon down either
            log.exception("cannot parse a control request")
            conn.outbuf += protocol.error(None, Code.INTERNAL, f"{type(e).__name__}: {e}")
            return
        conn.pending += 1
        try:
            answer = self.handle(conn, request)
        except FacewatchError as e:  # refused as asked: the client is told why
            answer = protocol.error(request.id, e.code, str(e))
        except Exception as e:  # a bug in one command must not take the daemon down
            log.exception("control command %s failed", request.cmd)
            answer = protocol.error(request.id, Code.INTERNAL, f"{type(e).__name__}: {e}")
        if answer is not None:
            conn.pending -= 1
            _queue(conn, answer)

    def _flush(self, conn: Connection) -> None:
        while conn.outbuf and not conn.closed:
            try:
                if not conn.fds:
                    sent = conn.sock.send(conn.outbuf)
                elif conn.fds[0][0] == 0:  # the answer that carries it, alone; what the
                    # socket does not take now follows as plain bytes (the descriptor is sent)
                    _, end, fd = conn.fds[0]
                    sent = socket.send_fds(conn.sock, [memoryview(conn.outbuf)[:end]], [fd])
                    del conn.fds[0]
                    os.close(fd)
                else:  # up to the answer that carries one
                    sent = conn.sock.send(memoryview(conn.outbuf)[:conn.fds[0][0]])
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                self._drop(conn, None)
                return
            del conn.outbuf[:sent]
            conn.fds = [(start - sent, end - sent, fd) for start, end, fd in conn.fds]
            conn.last_sent = time.monotonic()

    def _drop(self, conn: Connection, why: str | None) -> None:
        if why:
            log.info("closed a control connection (uid %d): %s", conn.peer.uid, why)
        conn.closed = True
        _close_fds(conn)
        conn.sock.close()


def _peer_groups(sock: socket.socket) -> tuple[int, ...] | None:
    """The supplementary groups of the peer's process when it connected (Linux 4.13+);
    None when unknown (more than 256: Python's limit on the buffer), then the group
    database is asked."""
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, SO_PEERGROUPS, 1024)
    except OSError:
        return None
    return struct.unpack(f"{len(raw) // 4}I", raw)


def _queue(conn: Connection, answer: protocol.Answer) -> None:
    """Add an answer to the connection's output; a descriptor for a connection that
    is gone is closed."""
    line, fd = answer if isinstance(answer, tuple) else (answer, None)
    if conn.closed:
        if fd is not None:
            os.close(fd)
        return
    if fd is not None:
        conn.fds.append((len(conn.outbuf), len(conn.outbuf) + len(line), fd))
    conn.outbuf += line


def _close_fds(conn: Connection) -> None:
    for _, _, fd in conn.fds:
        os.close(fd)
    conn.fds = []
