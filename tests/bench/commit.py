"""The daemon's own bookkeeping: tiny pictures (analysis ~free) through the live daemon,
against a loop doing the durable minimum one file at a time, on the same disk, in one run.

    .venv/bin/python tests/bench/commit.py [--files 3000] [--dir DIR] [--workers 2]

The loop is what one journaled move costs at the least: a synced SQLite commit of the
'moving' row, the rename, an fsync of both folders, a synced commit of 'done'
(files.journal.Journal.move, one file at a time). The daemon is started on an inbound
folder already holding the pictures (each distinct: 64x48 px of noise, no face) and timed
from READY=1 until `status` says all were handled; `--daemon-only` skips the loop.
DIR (default: a temporary folder) should be the disk that holds the photos and state.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from facewatchd.files import route  # noqa: E402
from facewatchd.files.journal import Journal  # noqa: E402
from facewatchd.state import Record, Store  # noqa: E402
from facewatchd.vocabulary import Outcome, Reason  # noqa: E402
from tests.helpers import DaemonProcess, tiny_pictures, write_config  # noqa: E402


def durable_loop(folder: Path, count: int) -> float:
    """Files a second, journaled one at a time into review (what the daemon's minimum is)."""
    inbound, review = folder / "inbound", folder / "review"
    review.mkdir()
    tiny_pictures(inbound, count)
    with Store(folder / "state") as store:
        journal = Journal(store)
        started = time.perf_counter()
        for source in sorted(inbound.iterdir()):
            identity = route.identify(source)
            assert identity is not None
            signature, digest = identity
            journal.move(source, review, Record(Outcome.REVIEW, Reason.NO_FACE),
                         signature=signature, sha256=digest, size=signature.size)
        return count / (time.perf_counter() - started)


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of one process (not its children)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def live_daemon(folder: Path, count: int, workers: int) -> tuple[float, float, dict]:
    """Files a second through the live daemon, from READY=1 to all handled, and the main
    process's CPU seconds a file."""
    config = write_config(folder, daemon=f"settle = 0.3\nqueue_limit = {max(count, 1000)}\n")
    config.write_text(config.read_text().replace("workers = 2", f"workers = {workers}"))
    tiny_pictures(folder / "inbound", count)
    with DaemonProcess(config) as daemon:
        daemon.ready(timeout=300)
        started, cpu = time.perf_counter(), cpu_seconds(daemon.proc.pid)
        status = daemon.wait_idle(count, timeout=3600)
        elapsed = time.perf_counter() - started
        cpu = cpu_seconds(daemon.proc.pid) - cpu
        assert daemon.stop() == 0
    return count / elapsed, cpu / count, status


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=3000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--dir", type=Path, default=None)
    parser.add_argument("--daemon-only", action="store_true")
    args = parser.parse_args()
    loops: list[float] = []
    daemons: list[float] = []
    cpus: list[float] = []
    for _ in range(args.rounds):  # interleaved: a noisy disk or CPU hits both
        if not args.daemon_only:
            with tempfile.TemporaryDirectory(dir=args.dir) as folder:
                loops.append(durable_loop(Path(folder), args.files))
        with tempfile.TemporaryDirectory(dir=args.dir) as folder:
            rate, cpu, status = live_daemon(Path(folder), args.files, args.workers)
            daemons.append(rate)
            cpus.append(cpu)
    print(f"{args.files} tiny pictures, {args.workers} workers, on {args.dir or tempfile.gettempdir()},"
          f" {args.rounds} rounds side by side (files/s each, best):")
    if loops:
        print(f"  durable loop, one file at a time  {_rates(loops)}")
    print(f"  live daemon                       {_rates(daemons)}"
          + (f"  {max(daemons) / max(loops):.2f}x the loop" if loops else ""))
    print(f"  the daemon's main process: {min(cpus) * 1000:.2f} ms of CPU a file (least), so one"
          f" daemon moves at most ~{1 / min(cpus):.0f} files/s however fast its workers")
    print("  the last daemon's files: " + ", ".join(
        f"{status[k]} {k}" for k in ("matched", "review", "duplicates", "failed", "left")))


def _rates(rates: list[float]) -> str:
    return " ".join(f"{r:7.1f}" for r in rates) + f"  best {max(rates):7.1f}"


if __name__ == "__main__":
    main()
