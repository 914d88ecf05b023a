"""A review queue of 100,000 items: how fast the daemon answers, and how much memory its
main process holds, in one run.

    .venv/bin/python tests/bench/queue100k.py [--items 100000] [--faces 20000] [--keep DIR]

The state is written straight into the database through the schema (rows of the
ledger as sorting leaves them: 'done' review moves, `--faces` of them with one face
each, encodings drawn around `--centres` points so that clusters exist, a tiny
thumbnail each, and a few people with references near some of the centres so that
"maybe NAME" suggestions exist); the photos themselves are not made, since nothing
listed here reads them. Then a real daemon starts on that state and every figure is a
request over its real socket: status, review.list and review.page in each order (the
first time, "cold", and again, "warm"), clusters, review.sheet, references, held; while
each cold one runs, a second connection asks `status` every 50 ms and the slowest of
those answers is printed; and the CLI's `facewatchctl review list` (every page in
turn), `clusters` and `status`. The daemon pings a watchdog (WATCHDOG_USEC=1 s: a ping every 0.5 s) and
the longest silence between pings is printed: the longest the loop stood still.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from facewatchd.control.client import Client  # noqa: E402
from facewatchd.state import DB_NAME, Store  # noqa: E402
from facewatchd.vocabulary import Origin  # noqa: E402
from tests.helpers import DaemonProcess, write_config  # noqa: E402

PEOPLE = 8  # with references, each near one of the centres
TICK = os.sysconf("SC_CLK_TCK")


def tiny_jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (120, 90, 60)).save(out, "JPEG", quality=70)
    return out.getvalue()


def build(root: Path, items: int, faces: int, centres: int, seed: int = 7) -> Path:
    """The config and state of a daemon whose review queue holds `items` items."""
    config = write_config(root, daemon="settle = 0.3\n")
    rng = np.random.default_rng(seed)
    # dlib's encodings: one person's faces ~0.3-0.4 apart, different people ~0.8 and more.
    points = rng.normal(0, 0.075, (centres, 128))
    review = root / "review"
    thumbnail = tiny_jpeg()
    now = time.time() - 86400
    with Store(root / "state") as store:  # the schema, migrated
        for p in range(PEOPLE):
            for r in range(3):
                # Two lookalikes a centre, ~0.55 from its faces: "maybe" one of them.
                encoding = points[p // 2] + rng.normal(0, 0.045, 128)
                store.add_reference(f"Person_{p}", Origin.REVIEW, str(root / f"ref{p}_{r}.jpg"),
                                    hashlib.sha256(b"ref %d %d" % (p, r)).hexdigest(), (10, 40, 40, 10),
                                    encoding)
    db = sqlite3.connect(root / "state" / DB_NAME)
    db.execute("PRAGMA synchronous = OFF")
    file_rows, face_rows, thumb_rows = [], [], []
    for i in range(items):
        sha = hashlib.sha256(b"item %d" % i).hexdigest()
        has_face = i < faces
        reason = "unknown_face" if has_face else "no_face"
        evidence = {"kind": "image", "size": [640, 480], "orientation": 1, "seconds": 0.05,
                    "faces": [{"box": [100, 300, 300, 100], "score": 1.0}] if has_face else [],
                    "rule": "nobody known" if has_face else "no face found"}
        folder = f"d{i // 1000:03d}"
        file_rows.append((i + 1, sha, 2000, str(root / "inbound" / folder / f"{i}.jpg"),
                          str(review / folder / f"{i}.jpg"), "done", "review", reason, "[]",
                          json.dumps(evidence), now + i * 0.5, now + i * 0.5, i + 1))
        if has_face:
            centre = points[i % centres]  # the first few near two people
            encoding = centre + rng.normal(0, 0.022, 128)
            face_rows.append((sha, 0, "[100, 300, 300, 100]", 1.0, None, encoding.astype("<f8").tobytes(),
                              200.0, 100.0))
        thumb_rows.append((sha, thumbnail, None))
    with db:
        db.executemany("INSERT INTO files (id, sha256, size, source, target, state, outcome, reason,"
                       " persons, evidence, created, updated, item_id) VALUES"
                       " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", file_rows)
        db.executemany("INSERT INTO faces (sha256, idx, box, score, time, encoding, side, sharpness)"
                       " VALUES (?, ?, ?, ?, ?, ?, ?, ?)", face_rows)
        db.executemany("INSERT INTO thumbnails (sha256, jpeg, time) VALUES (?, ?, ?)", thumb_rows)
    db.close()
    return config


def rss(pid: int) -> tuple[float, float]:
    """The process's resident memory now and at its peak, MB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


class StatusProbe:
    """Asks `status` on a connection of its own every 50 ms; the slowest answer."""

    def __init__(self, socket: Path) -> None:
        self.client = Client(socket)
        self.slowest = 0.0
        self.asked = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.perf_counter()
            self.client.call("status", {})
            self.slowest = max(self.slowest, time.perf_counter() - started)
            self.asked += 1
            self._stop.wait(0.05)

    def stop(self) -> tuple[float, int]:
        self._stop.set()
        self._thread.join()
        self.client.close()
        return self.slowest, self.asked


def cpu(pid: int) -> float:
    """CPU seconds the process has used, all its threads: steadier than the wall clock
    on a machine shared with other work."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def timed(socket: Path, pid: int, label: str, call: Callable[[Client], Any], probe: bool = False) -> Any:
    """One request: its answer time, the daemon's CPU time for it (a status probe's
    included, when there is one) and the slowest `status` answered meanwhile."""
    client = Client(socket)
    watcher = StatusProbe(socket) if probe else None
    started, used = time.perf_counter(), cpu(pid)
    answer = call(client)
    took, used = time.perf_counter() - started, cpu(pid) - used
    client.close()
    extra = ""
    if watcher is not None:
        slowest, asked = watcher.stop()
        extra = f"   status meanwhile: slowest {slowest * 1000:5.0f} ms of {asked}"
    print(f"  {label:<44} {took * 1000:8.0f} ms {used * 1000:7.0f} ms CPU{extra}", flush=True)
    return answer


def every_cluster(client: Client) -> list[dict[str, Any]]:
    """Every cluster, a page at a time where the daemon pages them."""
    answer = client.call("clusters", {})
    if isinstance(answer, list):
        return answer
    return answer["items"] + client.call_all_pages("clusters", {"offset": len(answer["items"])})


def cli(config: Path, label: str, *args: str) -> None:
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "facewatchd.control.ctl", "--config", str(config),
                             *args], capture_output=True, text=True, cwd=ROOT, timeout=1800)
    took = time.perf_counter() - started
    assert result.returncode == 0, result.stderr
    lines = result.stdout.count("\n")
    print(f"  {label:<44} {took * 1000:8.0f} ms   ({lines} lines)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--faces", type=int, default=20_000)
    parser.add_argument("--centres", type=int, default=300)
    parser.add_argument("--keep", type=Path, default=None, help="build here and leave it")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="queue100k-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        started = time.perf_counter()
        config = build(root, args.items, args.faces, args.centres)
        print(f"built {args.items} items, {args.faces} faces around {args.centres} centres in "
              f"{time.perf_counter() - started:.1f} s; load average {os.getloadavg()[0]:.2f}", flush=True)
        started = time.perf_counter()
        with DaemonProcess(config, env={"WATCHDOG_USEC": "1000000"}) as daemon:
            daemon.ready(600)
            socket = root / "state" / "facewatchd.sock"
            pid = daemon.proc.pid
            print(f"daemon ready after {time.perf_counter() - started:.1f} s (the start-up re-check"
                  f" decides every item); main process {rss(pid)[0]:.0f} MB resident", flush=True)
            print("over the socket (one request each): answer time, the daemon's CPU time")
            timed(socket, pid, "status", lambda c: c.call("status", {}))
            for order in ("oldest", "suggested"):
                for when in ("cold", "warm"):
                    timed(socket, pid, f"review.list {order}, first 100, {when}",
                          lambda c, o=order: c.call("review.list", {"order": o, "limit": 100}),
                          probe=when == "cold")
                timed(socket, pid, f"review.list {order}, 100 at 50,000",
                      lambda c, o=order: c.call("review.list", {"order": o, "limit": 100, "offset": 50_000}))
                for when in ("cold", "warm"):
                    timed(socket, pid, f"review.page {order}, first 100, {when}",
                          lambda c, o=order: c.call("review.page", {"order": o, "limit": 100}),
                          probe=when == "cold")
            found = []
            for when in ("cold", "warm"):
                found = timed(socket, pid, f"clusters, {when}", every_cluster,
                              probe=when == "cold")
            print(f"    ({len(found)} clusters, {sum(c['size'] for c in found)} faces in them)")
            if found:
                timed(socket, pid, "review.sheet of the largest cluster",
                      lambda c: c.call("review.sheet", {"cluster": found[0]["id"]}))
            timed(socket, pid, "review.sheet, first 100 items", lambda c: c.call("review.sheet", {"limit": 100}))
            timed(socket, pid, "references", lambda c: c.call("references", {}))
            timed(socket, pid, "held", lambda c: c.call("held", {}))
            timed(socket, pid, "status", lambda c: c.call("status", {}), probe=True)
            now, peak = rss(pid)
            print(f"main process memory: {now:.0f} MB resident now, {peak:.0f} MB at its peak")
            print("the CLI (a process each, every page in turn):")
            cli(config, "facewatchctl status", "status")
            cli(config, "facewatchctl review list (every item)", "review", "list")
            cli(config, "facewatchctl review list --order suggested", "review", "list", "--order", "suggested")
            cli(config, "facewatchctl clusters", "clusters")
            silence = daemon.notify.longest_silence("WATCHDOG=1")
            print(f"longest silence between watchdog pings: {silence:.1f} s"
                  " (pinged every 0.5 s; the unit's WatchdogSec is 60 s)")
            now, peak = rss(pid)
            print(f"main process memory: {now:.0f} MB resident now, {peak:.0f} MB at its peak")
            assert daemon.stop() == 0
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
