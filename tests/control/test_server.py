"""The control server on a real Unix socket, served from a loop like the daemon's."""

from __future__ import annotations

import json
import os
import socket
import stat
import threading
import time
from multiprocessing.connection import wait
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from facewatchd.control import protocol
from facewatchd.control.peer import Peer
from facewatchd.control.server import ControlServer
from facewatchd.control.table import COMMANDS


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


def test_a_client_that_never_reads_does_not_stall_the_others(server: ControlServer, connect,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from facewatchd.control import server as control

    monkeypatch.setattr(control, "STALLED", 1.0)
    greedy, _ = connect(server)

    def flood() -> None:  # answers it never reads; its sends block once the server waits
        try:
            greedy.sendall(protocol.request(1, "status", {}) * 20000)
        except OSError:
            pass  # dropped, or timed out

    flooding = threading.Thread(target=flood, daemon=True)
    flooding.start()
    polite, answers = connect(server)
    polite.sendall(protocol.request(1, "status", {}))
    assert json.loads(answers.readline())["ok"]
    flooding.join(20)
    deadline = time.monotonic() + 10
    while len(server.connections) > 1:  # the greedy one is dropped once it stalls
        assert time.monotonic() < deadline, server.connections
        time.sleep(0.1)


def test_an_answer_of_any_size_reaches_a_client_that_reads_it(tmp_path: Path) -> None:
    big = {"items": ["x" * 100] * 100_000}  # ~10 MB, more than any socket buffer

    srv = ControlServer(tmp_path / "ctl.sock", None, lambda conn, request: protocol.ok(request.id, big))
    srv.listen()
    stop = threading.Event()
    thread = threading.Thread(target=lambda: [srv.service(set(wait(srv.waitables(), 0.02)))
                                              for _ in iter(stop.is_set, True)])
    thread.start()
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.connect(str(srv.path))
            sock.settimeout(30)
            with sock.makefile("rb") as answers:
                sock.sendall(protocol.request(1, "review.list", {}))
                assert json.loads(answers.readline())["result"] == big
    finally:
        stop.set()
        thread.join()
        srv.close()


def test_one_connection_has_at_most_max_pending_requests_under_way(tmp_path: Path) -> None:
    from facewatchd.control.server import MAX_PENDING

    later = []  # requests answered later, as `test` is once a worker is done

    def handle(conn, request):
        later.append((conn, request))
        return None

    srv = ControlServer(tmp_path / "ctl.sock", None, handle)
    srv.listen()
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(str(srv.path))
        sock.sendall(b"".join(protocol.request(i, "test", {"file": "/x"}) for i in range(50)))
        for _ in range(20):
            srv.service(set(wait(srv.waitables(), 0.05)))
        assert len(later) == MAX_PENDING  # the others wait, unread
        conn, request = later[0]
        srv.reply(conn, protocol.ok(request.id, {}))
        srv.service(set(wait(srv.waitables(), 0.05)))
        assert len(later) == MAX_PENDING + 1  # one answered, the next one taken
    srv.close()


def test_without_a_group_the_daemons_own_group_may_connect(server: ControlServer) -> None:
    assert server._allowed(Peer(1, 0, 4242))  # root
    assert server._allowed(Peer(1, os.geteuid(), 4242))  # the daemon's user
    assert server._allowed(Peer(1, 4242, os.getegid()))  # its group
    assert not server._allowed(Peer(1, 4242, 4242))  # anyone else


def test_idle_connections_beyond_the_limit_are_refused_and_others_still_served(
        server: ControlServer, connect) -> None:
    from facewatchd.control.server import MAX_CONNECTIONS

    idle = [connect(server) for _ in range(MAX_CONNECTIONS)]
    _, refused = connect(server)
    assert json.loads(refused.readline())["error"]["code"] == "busy"
    for sock, reader in idle[:2]:  # when some leave, a newcomer gets in
        reader.close()
        sock.close()
    deadline = time.monotonic() + 10
    while True:  # until the server has noticed the two leave
        sock, answers = connect(server)
        try:
            sock.sendall(protocol.request(1, "status", {}))
            answer = json.loads(answers.readline() or b"{}")
        except (BrokenPipeError, ConnectionResetError):
            answer = {}
        if answer.get("ok") or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert answer["ok"]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)
requests = st.one_of(
    st.binary(max_size=200),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries({"v": st.sampled_from([1, 1, 2, "1", None]),
                           "id": json_values,
                           "cmd": st.sampled_from(sorted(COMMANDS)) | json_values,
                           "args": json_values}).map(lambda m: json.dumps(m).encode()),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(requests, min_size=1, max_size=5))
def test_fuzzed_requests_get_one_answer_each_and_never_break_the_server(
        server: ControlServer, lines: list[bytes]) -> None:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(str(server.path))
        sock.settimeout(10)
        with sock.makefile("rb") as answers:
            for line in lines:
                line = line.replace(b"\n", b" ")
                sock.sendall(line + b"\n")
                if line.strip():  # blank lines are skipped, everything else is answered
                    answer = json.loads(answers.readline())
                    assert answer["v"] == 1 and isinstance(answer["ok"], bool)
            sock.sendall(protocol.request(9, "status", {}))
            assert json.loads(answers.readline())["id"] == 9
