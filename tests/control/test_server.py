"""The control server on a real Unix socket, served from a loop like the daemon's."""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import tempfile
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


def read_answers(sock: socket.socket, count: int) -> list[tuple[dict, list[int]]]:
    """`count` answers and the descriptors of each: a read that brings descriptors ends
    with (a part of) the line that carries them, so they are the last line's that
    begins in that read."""
    data, fds = bytearray(), {}
    while data.count(b"\n") < count:
        chunk, passed, _, _ = socket.recv_fds(sock, 65536, 4)
        assert chunk, "closed"
        data += chunk
        if passed:
            begun = data[:-1] if data.endswith(b"\n") else data
            fds[data.count(b"\n", 0, begun.rfind(b"\n") + 1)] = passed
    return [(json.loads(line), fds.get(n, [])) for n, line in enumerate(data.splitlines())]


def test_answers_carry_descriptors_on_their_own_bytes(tmp_path: Path) -> None:
    """Pipelined answers, some with a descriptor: each descriptor can be told to be its
    answer's, also behind a large answer that meets a full socket; the server keeps
    none open."""
    from facewatchd.control.client import Client

    files = []
    for n in range(3):
        files.append(tmp_path / f"f{n}")
        files[-1].write_bytes(bytes([n]) * (n + 1) * 1000)
    big = {"items": ["x" * 100] * 20_000}  # ~2 MB: more than the socket holds

    def handle(conn, request):
        if request.cmd == "review.file":
            return protocol.answer(request.id, protocol.Descriptor(
                {"n": request.args["id"]}, os.open(files[request.args["id"]], os.O_RDONLY)))
        return protocol.ok(request.id, big if request.cmd == "review.list" else {"plain": True})

    srv = ControlServer(tmp_path / "ctl.sock", None, handle)
    srv.listen()
    stop = threading.Event()
    thread = threading.Thread(target=lambda: [srv.service(set(wait(srv.waitables(), 0.02)))
                                              for _ in iter(stop.is_set, True)])
    thread.start()
    before = len(os.listdir("/proc/self/fd"))
    try:
        client = Client(tmp_path / "ctl.sock")
        client.sock.sendall(b"".join(protocol.request(i, cmd, args) for i, (cmd, args) in enumerate(
            [("review.file", {"id": 0}), ("status", {}), ("review.list", {}), ("review.file", {"id": 1}),
             ("review.file", {"id": 2}), ("status", {})], 1)))
        time.sleep(0.5)  # the server meets a full socket in the middle of the large answer
        got = []
        for answer, fds in read_answers(client.sock, 6):
            result = answer["result"]
            got.append(("big" if result == big else result, [os.read(fd, 10000) for fd in fds]))
            for fd in fds:
                os.close(fd)
        assert got == [({"n": 0}, [b"\0" * 1000]), ({"plain": True}, []), ("big", []),
                       ({"n": 1}, [b"\1" * 2000]), ({"n": 2}, [b"\2" * 3000]), ({"plain": True}, [])]
        result, fd = client.call_fd("review.file", {"id": 2})
        assert result == {"n": 2} and fd is not None and os.read(fd, 5) == b"\2" * 5
        os.close(fd)
        assert client.call("review.file", {"id": 1}) == {"n": 1}  # call() closes what came
        client.close()
    finally:
        stop.set()
        thread.join()
        srv.close()
    assert len(os.listdir("/proc/self/fd")) <= before


def test_a_descriptor_for_a_client_that_left_is_closed(tmp_path: Path) -> None:
    later = []

    def handle(conn, request):
        later.append((conn, request))
        return None

    srv = ControlServer(tmp_path / "ctl.sock", None, handle)
    srv.listen()
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(str(srv.path))
        sock.sendall(protocol.request(1, "review.file", {"id": 1}))
        for _ in range(10):
            srv.service(set(wait(srv.waitables(), 0.05)))
    for _ in range(10):  # it left: the server notices
        srv.service(set(wait(srv.waitables(), 0.05)))
    fd = os.open(tmp_path / "ctl.sock", os.O_PATH)
    conn, request = later[0]
    srv.reply(conn, protocol.answer(request.id, protocol.Descriptor({}, fd)))
    with pytest.raises(OSError):
        os.fstat(fd)  # closed
    srv.close()


def test_a_peers_supplementary_groups_are_the_kernels() -> None:
    """A service's SupplementaryGroups= (facewatchd-web.service's DynamicUser in the
    daemon's group) are in no group database: the server takes the groups the kernel
    checked for the socket file (SO_PEERGROUPS)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to run a client as another user")
    folder = Path(tempfile.mkdtemp(prefix="facewatchd-test-"))  # one others may enter
    folder.chmod(0o755)
    srv = ControlServer(folder / "ctl.sock", None, lambda conn, request: protocol.ok(request.id, {}))
    srv.listen()  # 0660, the daemon's group: root's here
    stop = threading.Event()
    thread = threading.Thread(target=lambda: [srv.service(set(wait(srv.waitables(), 0.02)))
                                              for _ in iter(stop.is_set, True)])
    thread.start()
    try:
        client = (f"import socket; s = socket.socket(socket.AF_UNIX); s.connect({str(srv.path)!r});"
                  f" s.sendall({protocol.request(1, 'status', {})!r}); print(s.makefile().readline())")
        # nobody, with root's group only as a supplementary group; the system's python:
        # the test's may be in a home nobody may enter.
        answer = subprocess.run(["/usr/bin/python3", "-I", "-c", client], user=65534, group=65534,
                                extra_groups=[os.getegid()], capture_output=True, text=True,
                                timeout=30, cwd="/", check=True).stdout
    finally:
        stop.set()
        thread.join()
        srv.close()
        shutil.rmtree(folder)
    assert json.loads(answer)["ok"], answer
    assert not srv._allowed(Peer(1, 65534, 65534))  # as the group database alone has it
