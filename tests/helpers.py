"""Helpers for the tests: paths, configs, subprocess runs."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from facewatchd.state import DB_NAME

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("FACEWATCHD_TEST_DATA", ROOT.parent / "shared" / "data" / "faces"))


def need(condition: bool, reason: str) -> None:
    """Skip when something outside the project is missing; under CI=true, fail instead."""
    if condition:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: required)")
    pytest.skip(reason)


def wait_until(condition: Callable[[], object], timeout: float = 60.0,
               why: object | Callable[[], object] = "") -> None:
    """Poll `condition` until it holds; after `timeout` seconds fail, saying `why` (or
    what `why()` returns: a daemon's status, say)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not so within {timeout} s: {why() if callable(why) else why}")
        time.sleep(0.1)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def files_under(*folders: Path) -> list[Path]:
    return sorted(p for folder in folders if folder.exists()
                  for p in folder.rglob("*") if p.is_file() or p.is_symlink())


def tiny_pictures(folder: Path, count: int, start: int = 0) -> Counter[str]:
    """`count` distinct tiny JPEGs (64x48 px of noise: no face, analysed in a moment)
    named as a phone names them; returns their hashes."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    made: Counter[str] = Counter()
    for i in range(start, start + count):
        path = folder / f"IMG_{i:06d}.jpg"
        Image.frombytes("RGB", (64, 48), os.urandom(64 * 48 * 3)).save(path, "JPEG", quality=90)
        made[sha256(path)] += 1
    return made


def write_config(folder: Path, *, extra: str = "", watch_extra: str = "", daemon: str = "",
                 destination: str = "sorted/{person}", socket: str = "state/facewatchd.sock",
                 **recognition: object) -> Path:
    """A config in `folder` with references/, inbound/, sorted/, review/ and state/ beside it."""
    for name in ("references", "inbound", "sorted"):
        (folder / name).mkdir(exist_ok=True)
    rec = "".join(f"{k} = {json.dumps(v)}\n" for k, v in recognition.items())  # TOML's scalars
    text = textwrap.dedent(f"""\
        [daemon]
        state_dir = "state"
        socket = "{socket}"
        workers = 2
        """) + daemon + textwrap.dedent("""
        [recognition]
        references = "references"
        """) + rec + textwrap.dedent(f"""
        [[watch]]
        inbound = "inbound"
        destination = "{destination}"
        review = "review"
        """) + watch_extra + "\n" + extra
    path = folder / "facewatchd.toml"
    path.write_text(text)
    return path


def add_references(data: Path, references: Path, per_person: int = 2) -> dict[str, list[Path]]:
    """Copy the first `per_person` photos of each person; return the others (the probes)."""
    probes = {}
    for person in sorted(p for p in (data / "people").iterdir() if p.is_dir()):
        photos = sorted(person.iterdir())
        (references / person.name).mkdir(parents=True, exist_ok=True)
        for photo in photos[:per_person]:
            shutil.copy2(photo, references / person.name / photo.name)
        probes[person.name] = photos[per_person:]
    return probes


def facewatchd(*args: str | Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "facewatchd", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT)


@contextmanager
def second_filesystem(base: Path) -> Iterator[Path]:
    """A folder on another filesystem than `base`: a fresh tmpfs if we may mount, else /dev/shm."""
    mount = base / "otherfs"
    mount.mkdir()
    if os.geteuid() == 0 and subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=512m", "tmpfs", str(mount)],
            capture_output=True).returncode == 0:
        try:
            yield mount
        finally:
            subprocess.run(["umount", "-l", str(mount)], check=True)
        return
    shm = Path("/dev/shm")
    need(shm.is_dir() and shm.stat().st_dev != base.stat().st_dev,
         "no second filesystem: not root (to mount a tmpfs) and no /dev/shm")
    folder = Path(subprocess.check_output(["mktemp", "-d", "-p", str(shm)], text=True).strip())
    try:
        yield folder
    finally:
        shutil.rmtree(folder)


def facewatchctl(config: Path, *args: str | Path, check: bool = True,
                 timeout: float = 300) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "facewatchd.control.ctl", "--config", str(config), *map(str, args)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    if check:
        assert result.returncode == 0, (result.returncode, result.stdout, result.stderr)
    return result


class NotifySocket:
    """A datagram socket standing in for systemd's NOTIFY_SOCKET; keeps every message."""

    def __init__(self, path: Path) -> None:
        import socket
        import threading
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        path.unlink(missing_ok=True)  # left by a daemon process of this test before
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.messages: list[str] = []
        self.times: list[float] = []  # time.monotonic() of each message's arrival
        self._stop = False
        self._thread = threading.Thread(target=self._receive, daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        while not self._stop:
            try:
                message = self.sock.recv(65536).decode()
            except OSError:
                continue
            self.times.append(time.monotonic())
            self.messages.append(message)

    def fields(self) -> list[str]:
        return [line for m in self.messages for line in m.splitlines()]

    def arrivals(self, prefix: str, after: int = 0) -> list[float]:
        """When each message with a field starting with `prefix` came, from message `after` on."""
        return [t for t, m in list(zip(self.times, self.messages, strict=False))[after:]
                if any(line.startswith(prefix) for line in m.splitlines())]

    def longest_silence(self, prefix: str, after: int = 0, until: float | None = None) -> float:
        """The longest time between two messages with `prefix` (and from the last one to
        `until`), from message `after` on: what systemd's watchdog would have seen."""
        times = self.arrivals(prefix, after) + ([until] if until is not None else [])
        assert len(times) >= 2, f"too few {prefix} messages: {self.messages[after:]}"
        return max(b - a for a, b in zip(times, times[1:], strict=False))

    def wait_for(self, field: str, timeout: float = 60, after: int = 0) -> int:
        """Index of the first message after `after` that has `field` (e.g. "READY=1")."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for i, m in enumerate(self.messages[after:], after):
                if field in m.splitlines():
                    return i
            time.sleep(0.05)
        raise AssertionError(f"no {field} within {timeout} s; got {self.messages}")

    def close(self) -> None:
        self._stop = True
        self._thread.join()
        self.sock.close()


class DaemonProcess:
    """facewatchd started as a subprocess with its own NOTIFY_SOCKET."""

    def __init__(self, config: Path, env: dict[str, str] | None = None,
                 under: tuple[str, ...] = ()) -> None:
        """`under`: a command to run it under (strace...)."""
        self.config = config
        self.notify = NotifySocket(config.parent / "notify.sock")
        self.log = config.parent / "daemon.log"
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [*under, sys.executable, "-m", "facewatchd", "--config", str(config), "--log", "stderr"],
                stdout=subprocess.DEVNULL, stderr=log, cwd=ROOT,
                env={**os.environ, "NOTIFY_SOCKET": str(self.notify.path), **(env or {})})

    def ready(self, timeout: float = 90) -> DaemonProcess:
        try:
            self.notify.wait_for("READY=1", timeout)
        except AssertionError as e:
            raise AssertionError(f"{e}\nexit status {self.proc.poll()}; its log:\n"
                                 f"{self.log.read_text()[-3000:]}") from None
        return self

    def ctl(self, *args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
        return facewatchctl(self.config, *args, check=check)

    def status(self) -> dict:
        import json

        return json.loads(self.ctl("--json", "status").stdout)

    def wait_idle(self, expect_processed: int, timeout: float = 300) -> dict:
        """Wait until `expect_processed` files were handled and nothing is waiting."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.status()
            if (status["processed"] >= expect_processed and not status["queued"]
                    and not status["settling"] and not status["in_flight"] and not status["scanning"]):
                return status
            time.sleep(0.2)
        raise AssertionError(f"not idle after {timeout} s: {status}\n{self.log.read_text()[-3000:]}")

    def stop(self, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            return self.proc.wait(timeout)
        finally:
            self.notify.close()

    def __enter__(self) -> DaemonProcess:
        return self

    def __exit__(self, *_: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if not self.notify._stop:
            self.notify.close()


REFERENCES = {"Barack_Obama": ["obama.jpg", "obama1.jpg"], "Joe_Biden": ["biden.jpg"],
              "Kit_Harington": ["john1.jpeg", "john2.jpeg"]}
SETTLE = "settle = 0.3\n"


def tree(root: Path, data: Path, daemon: str = SETTLE, **kwargs: object) -> Path:
    """A config (write_config) with references of three people from the photo set."""
    config = write_config(root, daemon=daemon, **kwargs)
    for person, photos in REFERENCES.items():
        (root / "references" / person).mkdir(parents=True)
        for photo in photos:
            shutil.copy2(data / "people" / person / photo, root / "references" / person)
    return config


@contextmanager
def serving(root: Path, data: Path) -> Iterator[DaemonProcess]:
    """A daemon on a tree of its own, ready; its `root` and `data` beside it. It must
    stop cleanly."""
    with DaemonProcess(tree(root, data)) as running:
        running.ready()
        running.root, running.data = root, data
        yield running
        assert running.stop() == 0


def account(folders: list[Path], skip_temporary: bool = False) -> Counter[str]:
    """The hashes of every regular file in `folders`, a hard-linked file counted once
    (and, with `skip_temporary`, without half-written copies a crash left behind)."""
    found: Counter[str] = Counter()
    inodes = set()
    for path in files_under(*folders):
        if skip_temporary and path.name.startswith(".facewatchd-") and path.suffix == ".tmp":
            continue
        st = path.lstat()
        if stat.S_ISREG(st.st_mode) and (st.st_dev, st.st_ino) not in inodes:
            inodes.add((st.st_dev, st.st_ino))
            found[sha256(path)] += 1
    return found


def ledger_agrees_with_disk(root: Path, folders: list[Path]) -> None:
    db = sqlite3.connect(root / "state" / DB_NAME)
    db.row_factory = sqlite3.Row
    named = set()
    for row in db.execute("SELECT * FROM files WHERE state = 'done' AND next_id IS NULL"
                          " AND target IS NOT NULL"):
        for name in [os.fsdecode(row["target"]), *json.loads(row["links"])]:  # bytes: not UTF-8
            if not Path(name).is_relative_to(root / "inbound"):
                assert sha256(Path(name)) == row["sha256"], name
                named.add(Path(name))
        for sidecar in json.loads(row["sidecars"]):  # and what it carried along
            if sidecar["to"] and not Path(sidecar["to"]).is_relative_to(root / "inbound"):
                assert sha256(Path(sidecar["to"])) == sidecar["sha256"], sidecar
                named.add(Path(sidecar["to"]))
    assert not db.execute("SELECT count(*) FROM files WHERE state = 'moving'").fetchone()[0]
    db.close()
    out = [p for p in files_under(*folders) if not p.is_relative_to(root / "inbound")]
    assert set(out) == named  # nothing outside inbound that the ledger does not know


class Dropper:
    """A daemon shared by a module's tests, and what each dropped into it: each test drops
    its own photos into a subfolder of inbound, so the tests pass in any order, and at
    the end every byte that went in is accounted for (`account`)."""

    def __init__(self, daemon: DaemonProcess, root: Path, data: Path) -> None:
        self.daemon, self.root, self.data = daemon, root, data
        self.dropped: Counter[str] = Counter()

    def drop(self, subfolder: str, photos: dict[str, str | bytes], *, fresh: bool = False) -> None:
        """Copy photos (name → path in the data set, or raw bytes) into inbound/subfolder
        (`fresh`: a subfolder no test used before) and wait until all are sorted."""
        folder = self.root / "inbound" / subfolder
        folder.mkdir(parents=True, exist_ok=not fresh)
        processed = self.daemon.status()["processed"]
        for name, source in photos.items():
            target = folder / name
            if isinstance(source, bytes):
                target.write_bytes(source)
            else:
                shutil.copy2(self.data / source, target)
            self.dropped[sha256(target)] += 1
        self.daemon.wait_idle(processed + len(photos))

    def nothing_lost(self) -> None:
        """Every byte any test dropped is in exactly one place, and no copy was left half-made."""
        assert account([self.root / "inbound", self.root / "sorted", self.root / "review"]) == self.dropped
        assert not [p for p in files_under(self.root / "sorted", self.root / "review")
                    if ".facewatchd-" in p.name]
