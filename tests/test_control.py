"""The control server on a real Unix socket, served from a loop like the daemon's."""

from __future__ import annotations

import json
import os
import socket
import stat
import threading
from multiprocessing.connection import wait
from pathlib import Path

import pytest

from facewatchd import protocol
from facewatchd.control import ControlServer, Peer


@pytest.fixture
def server(tmp_path: Path):
    def handle(conn, request):
        return protocol.ok(request.id, {"echo": request.cmd})

    srv = ControlServer(tmp_path / "ctl.sock", None, handle)
    srv.listen()
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            srv.service(set(wait(srv.waitables(), 0.02)))

    thread = threading.Thread(target=loop)
    thread.start()
    yield srv
    stop.set()
    thread.join()
    srv.close()


@pytest.fixture
def connect():
    opened = []

    def open_one(srv: ControlServer) -> tuple[socket.socket, object]:
        sock = socket.socket(socket.AF_UNIX)
        sock.connect(str(srv.path))
        sock.settimeout(10)
        opened.append((sock, sock.makefile("rb")))
        return opened[-1]

    yield open_one
    for sock, reader in opened:
        reader.close()
        sock.close()


def test_the_socket_is_created_0660(server: ControlServer) -> None:
    assert stat.S_IMODE(server.path.stat().st_mode) == 0o660


def test_malformed_requests_are_answered_and_the_connection_stays(server: ControlServer, connect) -> None:
    sock, answers = connect(server)
    sock.sendall(b"{oops\n" + b'{"v": 1, "id": 2, "cmd": "nope"}\n' + protocol.request(3, "status", {}))
    assert json.loads(answers.readline())["error"]["code"] == "bad_request"
    assert json.loads(answers.readline())["error"]["code"] == "unknown_command"
    assert json.loads(answers.readline()) == {"v": 1, "id": 3, "ok": True, "result": {"echo": "status"}}


def test_an_endless_line_is_refused_and_the_client_dropped(server: ControlServer, connect) -> None:
    sock, answers = connect(server)
    try:
        sock.sendall(b"x" * (protocol.MAX_LINE + 65536))
        # The error line, unless the close overtook it (unread input resets the peer).
        line = answers.readline()
        assert line == b"" or json.loads(line)["error"]["message"] == "request line too long"
        assert answers.readline() == b""
    except (BrokenPipeError, ConnectionResetError):
        pass  # dropped
    other, other_answers = connect(server)  # and the server still serves others
    other.sendall(protocol.request(1, "persons", {}))
    assert json.loads(other_answers.readline())["ok"]


def test_a_client_that_never_reads_does_not_stall_the_others(server: ControlServer, connect) -> None:
    greedy, _ = connect(server)
    greedy.sendall(protocol.request(1, "status", {}) * 20000)  # answers it never reads
    polite, answers = connect(server)
    polite.sendall(protocol.request(1, "status", {}))
    assert json.loads(answers.readline())["ok"]


def test_without_a_group_the_daemons_own_group_may_connect(server: ControlServer) -> None:
    assert server._allowed(Peer(1, 0, 4242))  # root
    assert server._allowed(Peer(1, os.geteuid(), 4242))  # the daemon's user
    assert server._allowed(Peer(1, 4242, os.getegid()))  # its group
    assert not server._allowed(Peer(1, 4242, 4242))  # anyone else
