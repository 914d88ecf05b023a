"""Soak: a stream of files through the live daemon, killed with SIGKILL on the way.

    .venv/bin/python tests/bench/soak.py [--files 20000] [--kills 3] [--workers 2]
        [--dir DIR] [--rate 0] [--backlog 300] [--faces 0.03] [--duplicates 20]
    .venv/bin/python tests/bench/soak.py --files 2000      # quick: about a minute

A config and state in a temporary folder (or DIR, kept), with the three people of
tests/helpers.py's tree() as references. The real daemon (a subprocess, ready when it
says READY=1 on its NOTIFY_SOCKET) is fed N files, renamed one by one into inbound's
subfolders of 500: mostly tiny JPEGs (24x24 random pixels, each distinct), a share of
real face photos (distinct bytes appended after the JPEG's end: same picture, other
file) so that files are filed under people and, for a photo of two, under both, and a
few real duplicates (an earlier file's bytes again, once the earlier one was sorted).
Files come as fast as the daemon takes them (at most --backlog waiting in inbound) or
at --rate files/s. At equal shares of the stream the daemon's main process is killed
with SIGKILL while files are in flight, and started again at once; files keep coming
meanwhile.

When inbound is empty and the daemon idle, it prints: files/s overall and per life of
the daemon, the main process's resident memory every --sample seconds (the curve) and
its slope per 1,000 files after each life's warm-up, the database's size (main file +
WAL) per file, and where every file went. Then it accounts for every file written, by
its bytes and inode (tests/bench/soak_audit.py): exit status 1 if one is lost, there
twice, still in inbound, left half-made, or the ledger's final rows and the disk
disagree (or the daemon's last stop was not clean). Timings and memory are printed,
never asserted.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import random
import signal
import sqlite3
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from facewatchd.control.client import Client, socket_path  # noqa: E402
from facewatchd.errors import FacewatchError  # noqa: E402
from tests.bench import soak_audit  # noqa: E402
from tests.bench.bench import _status_kb, descendants  # noqa: E402
from tests.helpers import DATA, SETTLE, DaemonProcess, tree  # noqa: E402

# Real photos: one person each, two people (filed under both: one inode, two names),
# and a photo of no one known (to review).
PHOTOS = ["people/Barack_Obama/obama2.jpg", "people/Joe_Biden/biden2.jpg",
          "people/Kit_Harington/johnsnow_test1.jpg", "groups/two_people.jpg", "no_faces/cat.jpg"]
PER_FOLDER = 500
PHOTO_BYTES: dict[str, bytes] = {}  # read once; each copy is made as it is written


@dataclass
class Item:
    name: str  # inbound/<name>
    data: bytes  # the file, or what follows the real photo's bytes
    kind: str  # "tiny", "photo" or "duplicate"
    source: str = ""  # the real photo it was made from

    def content(self) -> bytes:
        return PHOTO_BYTES[self.source] + self.data if self.source else self.data


def tiny(rng: random.Random, index: int) -> bytes:
    """A 24x24 JPEG of random pixels, the index in its first pixels: no two alike."""
    pixels = bytearray(rng.randbytes(24 * 24 * 3))
    pixels[:4] = index.to_bytes(4, "big")
    out = io.BytesIO()
    Image.frombytes("RGB", (24, 24), bytes(pixels)).save(out, "JPEG", quality=85)
    return out.getvalue()


def plan(files: int, faces: float, duplicates: int, seed: int) -> list[Item | int]:
    """What to write, in order: Items, and for a duplicate the position it repeats."""
    rng = random.Random(seed)
    PHOTO_BYTES.update({p: (DATA / p).read_bytes() for p in PHOTOS})
    dup_at = set(rng.sample(range(files // 10, files), min(duplicates, files - files // 10)))
    items: list[Item | int] = []
    for i in range(files):
        folder = f"b{i // PER_FOLDER:03d}"
        if i in dup_at:
            items.append(rng.randrange(0, i // 2))  # long written by then (Stream waits until sorted)
        elif rng.random() < faces:
            source = PHOTOS[i % len(PHOTOS)]
            items.append(Item(f"{folder}/{i:05d}-{Path(source).name}",
                              rng.randbytes(16), "photo", source))
        else:
            items.append(Item(f"{folder}/{i:05d}.jpg", tiny(rng, i), "tiny"))
    return items


@dataclass
class Stream:
    """Writes the plan into inbound from a thread: each file made in staging/ and
    renamed into place (whole at once), with at most `backlog` still in inbound."""

    root: Path
    items: list[Item | int]
    backlog: int
    rate: float
    written: Counter[str] = field(default_factory=Counter)
    repeated: set[str] = field(default_factory=set)  # hashes written twice on purpose
    source_of: dict[str, str] = field(default_factory=dict)
    count: int = 0
    started: float = 0.0
    finished: float = 0.0
    _pending: set[Path] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        self.started = time.monotonic()
        threading.Thread(target=self._run, daemon=True).start()

    def waiting(self) -> int:
        """Files written and still in inbound."""
        with self._lock:
            self._pending = {p for p in self._pending if os.path.lexists(p)}
            return len(self._pending)

    def done(self) -> int:
        """Files written and gone from inbound (sorted, or on their way)."""
        with self._lock:
            self._pending = {p for p in self._pending if os.path.lexists(p)}
            return self.count - len(self._pending)

    def _run(self) -> None:
        staging = self.root / "staging"
        staging.mkdir(exist_ok=True)
        resolved: list[Item] = []
        for i, entry in enumerate(self.items):
            if isinstance(entry, int):  # a real duplicate of an earlier file, under a name of its own
                first = resolved[entry]
                deadline = time.monotonic() + 60  # a duplicate of a file sorted before, not of one in flight
                while os.path.lexists(self.root / "inbound" / first.name) and time.monotonic() < deadline:
                    time.sleep(0.01)
                item = Item(f"{Path(first.name).parent}/{i:05d}-again-{Path(first.name).name}",
                            first.data, "duplicate", first.source)
                self.repeated.add(hashlib.sha256(item.content()).hexdigest())
            else:
                item = entry
            resolved.append(item)
            if self.rate:
                time.sleep(max(0.0, self.started + i / self.rate - time.monotonic()))
            while len(self._pending) >= self.backlog and self.waiting() >= self.backlog:
                time.sleep(0.01)  # (looked at only when full: each look is a stat per file waiting)
            target = self.root / "inbound" / item.name
            target.parent.mkdir(exist_ok=True)
            data = item.content()
            (staging / "next").write_bytes(data)
            digest = hashlib.sha256(data).hexdigest()
            self.written[digest] += 1
            if item.source:
                self.source_of[digest] = item.source
            with self._lock:
                os.rename(staging / "next", target)
                self._pending.add(target)
                self.count += 1
        self.finished = time.monotonic()


@dataclass
class Sample:
    t: float
    done: int
    life: int
    rss_mb: float
    worker_mb: float
    db_mb: float


@dataclass
class Life:
    """One run of the daemon, from its start to its kill (or the end)."""

    pid: int
    started: float
    ready: float = 0.0
    done_at_ready: int = 0
    ended: float = 0.0
    done_at_end: int = 0
    note: str = ""


def db_bytes(root: Path) -> tuple[int, int]:
    state = root / "state"
    size = (state / "facewatchd.db").stat().st_size
    wal = state / "facewatchd.db-wal"
    return size, wal.stat().st_size if wal.exists() else 0


def status(config: Path) -> dict | None:
    """The daemon's status, or None while it is not answering (killed, starting)."""
    try:
        client = Client(socket_path(config))
    except FacewatchError:
        return None
    try:
        return client.call("status", {})
    except (FacewatchError, OSError):
        return None
    finally:
        client.close()


def kill(daemon: DaemonProcess, config: Path, root: Path, rng: random.Random) -> str:
    """SIGKILL the main process once files are in flight; say what it left behind."""
    deadline = time.monotonic() + 10
    while (s := status(config)) is not None and not s["in_flight"] and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(rng.uniform(0, 0.3))  # not always just after a file was handed out
    children = [pid for pid, _ in descendants(daemon.proc.pid) if pid != daemon.proc.pid]
    daemon.proc.send_signal(signal.SIGKILL)
    daemon.proc.wait()
    db = sqlite3.connect(f"file:{root / 'state' / 'facewatchd.db'}?mode=ro", uri=True)
    moving = db.execute("SELECT count(*) FROM files WHERE state = 'moving'").fetchone()[0]
    db.close()
    temporary = len(soak_audit.walk(root, ["inbound", "sorted", "review"]).temporary)
    deadline = time.monotonic() + 10  # the forkserver and its workers die with the main process
    while (alive := [p for p in children if os.path.exists(f"/proc/{p}")]) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in alive:  # a defect if any: reported, and not left running on the machine
        os.kill(pid, signal.SIGKILL)
    in_flight = s["in_flight"] if s else "?"
    return (f"killed with {in_flight} in flight, {s['queued'] if s else '?'} queued; "
            f"{moving} moves under way in the ledger, {temporary} temporary files on disk"
            + (f"; {len(alive)} CHILD PROCESSES OUTLIVED IT (pids {alive})" if alive else ""))


def slope(samples: list[Sample]) -> float:
    """MB per 1,000 files, least squares."""
    done = np.array([s.done for s in samples], float)
    if len(samples) < 3 or done.max() - done.min() < 100:
        return float("nan")
    return float(np.polyfit(done, [s.rss_mb for s in samples], 1)[0] * 1000)


def run(args: argparse.Namespace, root: Path) -> int:
    config = tree(root, DATA, daemon=SETTLE)
    config.write_text(config.read_text().replace("workers = 2\n", f"workers = {args.workers}\n", 1))
    rng = random.Random(args.seed)
    print(f"soak: {args.files} files, {args.kills} kills, {args.workers} workers, in {root}; "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs", flush=True)
    stream = Stream(root, plan(args.files, args.faces, args.duplicates, args.seed), args.backlog, args.rate)
    kills_at = [args.files * (k + 1) // (args.kills + 1) for k in range(args.kills)]
    lives: list[Life] = []
    samples: list[Sample] = []
    daemon = DaemonProcess(config)
    lives.append(Life(daemon.proc.pid, time.monotonic()))
    daemon.ready()
    lives[-1].ready = time.monotonic()
    stream.start()
    lives[-1].ready = stream.started  # the first life's clock starts with the stream
    print(f"{'t s':>7} {'done':>6} {'life':>4} {'main RSS MB':>11} {'worker MB':>9} {'db+WAL MB':>9}")
    next_sample = 0.0
    idle_since = None
    progress = (0, time.monotonic())  # files done, and since when: the end if it stalls
    while True:
        now = time.monotonic()
        done = stream.done()
        if now >= next_sample:
            rss = _status_kb(daemon.proc.pid, "VmRSS") / 1024
            workers = [_status_kb(p, "VmRSS") for p, _ in descendants(daemon.proc.pid) if p != daemon.proc.pid]
            db, wal = db_bytes(root)
            samples.append(Sample(now - stream.started, done, len(lives), rss, max(workers, default=0) / 1024,
                                  (db + wal) / 2**20))
            s = samples[-1]
            print(f"{s.t:7.1f} {s.done:6d} {s.life:4d} {s.rss_mb:11.1f} {s.worker_mb:9.1f} {s.db_mb:9.2f}",
                  flush=True)
            next_sample = now + args.sample
        if kills_at and done >= kills_at[0]:
            kills_at.pop(0)
            life = lives[-1]
            note = kill(daemon, config, root, rng)
            life.ended, life.done_at_end, life.note = time.monotonic(), stream.done(), note
            daemon.__exit__()
            print(f"{life.ended - stream.started:7.1f} {life.done_at_end:6d}  {note}", flush=True)
            daemon = DaemonProcess(config)
            lives.append(Life(daemon.proc.pid, time.monotonic()))
            daemon.ready()
            lives[-1].ready, lives[-1].done_at_ready = time.monotonic(), stream.done()
            print(f"{lives[-1].ready - stream.started:7.1f} {lives[-1].done_at_ready:6d}  started again, "
                  f"ready after {lives[-1].ready - lives[-1].started:.1f} s", flush=True)
            continue
        if done != progress[0]:
            progress = (done, now)
        elif stream.finished and now - progress[1] > args.stall:
            print(f"no file left inbound for {args.stall:.0f} s: {stream.waiting()} stay there", flush=True)
            break
        if stream.finished and not stream.waiting():
            s = status(config)
            quiet = s is not None and not (s["queued"] or s["settling"] or s["in_flight"]
                                           or s["scanning"] or s["waiting_to_move"])
            idle_since = (idle_since or now) if quiet else None
            if idle_since and now - idle_since > 1:
                break
        time.sleep(0.05)
    drained = time.monotonic()
    lives[-1].ended, lives[-1].done_at_end = drained, stream.done()
    db, wal = db_bytes(root)
    code = daemon.stop()
    with open(daemon.log) as log:
        tracebacks = log.read().count("Traceback")
    db_after, wal_after = db_bytes(root)
    report(args, root, stream, lives, samples, drained, (db, wal), (db_after, wal_after), code, tracebacks)
    result = soak_audit.audit(root, stream.written, stream.repeated)
    return account(root, stream, result, code, tracebacks)


def report(args: argparse.Namespace, root: Path, stream: Stream, lives: list[Life], samples: list[Sample],
           drained: float, live_db: tuple[int, int], stopped_db: tuple[int, int], code: int,
           tracebacks: int) -> None:
    seconds = drained - stream.started
    print(f"\n{stream.count} files in {seconds:.1f} s: {stream.count / seconds:.1f} files/s overall "
          f"(kills and restarts included; the stream took {stream.finished - stream.started:.1f} s)")
    print(f"{'life':>4} {'pid':>8} {'start→READY s':>13} {'files':>6} {'seconds':>8} {'files/s':>8}"
          f" {'RSS MB at READY':>15} {'at warm-up, end':>15} {'MB per 1,000 files':>18}")
    at_ready: list[Sample] = []
    for n, life in enumerate(lives, 1):
        files, span = life.done_at_end - life.done_at_ready, life.ended - life.ready
        mine = [s for s in samples if s.life == n]
        warm = [s for s in mine if s.done - life.done_at_ready >= args.warmup]
        edges = f"{warm[0].rss_mb:.1f}, {warm[-1].rss_mb:.1f}" if warm else "-"
        at_ready += mine[:1]
        first = f"{mine[0].rss_mb:.1f}" if mine else "-"
        print(f"{n:4d} {life.pid:8d} {life.ready - life.started:13.1f} {files:6d} {span:8.1f} "
              f"{files / span if span else 0:8.1f} {first:>15} {edges:>15} {slope(warm):18.2f}")
    if len(at_ready) >= 3:
        print(f"RSS at READY after a start: {slope(at_ready):.2f} MB more per 1,000 files handled before it "
              f"({', '.join(f'{s.rss_mb:.1f} MB with {s.done}' for s in at_ready)})")
    warm_all = [s for n, life in enumerate(lives, 1) for s in samples
                if s.life == n and s.done - life.done_at_ready >= args.warmup]
    if warm_all:
        rss = [s.rss_mb for s in warm_all]
        per_life = [slope([s for s in warm_all if s.life == n]) for n in range(1, len(lives) + 1)]
        worst = max((p for p in per_life if p == p), default=float("nan"))  # (nan: too few samples)
        verdict = "too few samples" if worst != worst else "flat" if worst < args.flat else "GROWING"
        print(f"main process after warm-up ({args.warmup} files into each life): RSS {min(rss):.1f}-"
              f"{max(rss):.1f} MB; steepest slope {worst:.2f} MB per 1,000 files: "
              f"{verdict} (flat: under {args.flat} MB per 1,000)")
    handled = stream.count
    print(f"database at the end, running: {live_db[0] / 2**20:.2f} MB + WAL {live_db[1] / 2**20:.2f} MB = "
          f"{sum(live_db) / handled / 1024:.2f} KB per file; after a clean stop (exit {code}): "
          f"{stopped_db[0] / 2**20:.2f} MB + WAL {stopped_db[1] / 2**20:.2f} MB = "
          f"{sum(stopped_db) / handled / 1024:.2f} KB per file")
    print(f"  by table and index: {tables(root)}")
    print(f"daemon log: {tracebacks} tracebacks")
    with open(root / "daemon.log") as log:
        text = log.read()
    print(f"interrupted moves settled at start: {text.count('finished the interrupted move')} finished, "
          f"{text.count('rolled back the interrupted move')} rolled back")


def tables(root: Path) -> str:
    """The database's largest tables and indexes (SQLite's dbstat), and the thumbnails'
    average size by where their files went."""
    db = sqlite3.connect(f"file:{root / 'state' / 'facewatchd.db'}?mode=ro", uri=True)
    try:
        sizes = db.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC LIMIT 6").fetchall()
        thumbs = db.execute("SELECT f.outcome, avg(length(t.jpeg)) FROM files f JOIN thumbnails t"
                            " ON t.sha256 = f.sha256 WHERE f.next_id IS NULL GROUP BY f.outcome").fetchall()
    except sqlite3.Error as e:
        return f"not known ({e})"
    finally:
        db.close()
    return (", ".join(f"{name} {size / 2**20:.2f} MB" for name, size in sizes) + "; a thumbnail: "
            + ", ".join(f"{size / 1024:.1f} KB ({outcome})" for outcome, size in thumbs))


def account(root: Path, stream: Stream, result: soak_audit.Audit, code: int, tracebacks: int) -> int:
    kinds = Counter(i.kind if isinstance(i, Item) else "duplicate" for i in stream.items)
    print(f"written: {stream.count} ({kinds['tiny']} tiny, {kinds['photo']} real photos, "
          f"{kinds['duplicate']} real duplicates); files on disk by folder (an inode once):")
    for folder, n in sorted(result.by_folder.items()):
        print(f"  {folder:28} {n:6d}")
    for source, where in sorted(soak_audit.placements(root, result, stream.source_of).items()):
        print(f"  {source:40} " + ", ".join(f"{w}: {n}" for w, n in where.most_common()))
    print(f"ledger: {dict(result.ledger_rows)} rows; {result.final_entries} final entries for "
          f"{stream.count} files written")
    lost, twice = sum(result.lost.values()), sum(result.duplicated.values())
    print(f"lost {lost}, duplicated {twice}, left in inbound {len(result.unsorted)}, temporary files left "
          f"{len(result.temporary)}, misfiled {len(result.misfiled)}, ledger disagreements {len(result.ledger)}")
    for line in ([f"lost: {h}" for h in result.lost] + [f"there twice: {h}" for h in result.duplicated]
                 + [f"not sorted: {p}" for p in result.unsorted] + [f"half-made: {p}" for p in result.temporary]
                 + result.misfiled + result.ledger)[:40]:
        print(f"  {line}")
    return 0 if result.ok and code == 0 else 1


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--files", type=int, default=20_000)
    p.add_argument("--kills", type=int, default=3, help="SIGKILLs, at equal shares of the stream")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--dir", type=Path, help="work here and keep it (an empty or new folder)")
    p.add_argument("--rate", type=float, default=0, help="files/s (0: as fast as the daemon takes them)")
    p.add_argument("--backlog", type=int, default=300, help="files waiting in inbound at most")
    p.add_argument("--faces", type=float, default=0.03, help="share of real photos")
    p.add_argument("--duplicates", type=int, default=20, help="real duplicates among the files")
    p.add_argument("--sample", type=float, default=5.0, help="seconds between memory samples")
    p.add_argument("--warmup", type=int, default=1000, help="files into each life before memory counts")
    p.add_argument("--flat", type=float, default=0.5, help="MB per 1,000 files still called flat")
    p.add_argument("--stall", type=float, default=120, help="give up after this long without progress")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    if args.dir:
        args.dir.mkdir(parents=True, exist_ok=True)
        if any(args.dir.iterdir()):
            p.error(f"{args.dir} is not empty")
        return run(args, args.dir.resolve())
    with tempfile.TemporaryDirectory(prefix="facewatchd-soak-") as tmp:
        return run(args, Path(tmp))


if __name__ == "__main__":
    sys.exit(main())
