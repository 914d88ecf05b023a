"""The worker pool through real processes: results, bounds, crashes and hangs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from facewatchd.engine.pool import Pool
from facewatchd.engine.worker import EngineSettings

SLOW = Path("video") / "pedestrians_1080p.mp4"  # ~5-10 s of analysis on one core


def busy_pid(pool: Pool, other_than: int | None = None) -> int:
    """The pid of the worker with a job, once it is not `other_than` (collecting meanwhile)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        for worker in pool._workers:
            if worker.job is not None and worker.process.pid != other_than:
                return worker.process.pid
        assert not pool.collect(timeout=0.05)
    raise AssertionError("no worker took the job")


def test_results_come_back_with_a_bounded_backlog(data: Path) -> None:
    photos = sorted(str(p) for p in (data / "people").rglob("*.png"))[:12]
    seen_pending = []
    with Pool(EngineSettings(), workers=2, timeout=60) as pool:
        assert pool.capacity == 4  # one in work and one ready per worker
        reports = []
        for report in pool.imap(photos):
            seen_pending.append(pool.pending)
            reports.append(report)
    assert sorted(r.path for r in reports) == photos
    assert all(r.error is None and len(r.faces) == 1 for r in reports)
    assert max(seen_pending) <= 4


def first_results(pool: Pool, timeout: float = 120) -> list:
    """What the pool has collected once it has anything."""
    deadline = time.monotonic() + timeout
    while not (results := pool.collect(timeout=1)):
        assert time.monotonic() < deadline, "no result from the pool"
    return results


def test_a_killed_worker_is_replaced_and_its_file_retried(data: Path) -> None:
    with Pool(EngineSettings(), workers=1, timeout=120) as pool:
        pool.submit("clip", str(data / SLOW))
        os.kill(busy_pid(pool), signal.SIGKILL)
        (key, report), = first_results(pool)
        assert key == "clip" and report.error is None and report.faces
        assert pool.restarts == 1


def test_a_file_that_kills_its_worker_twice_is_given_up(data: Path) -> None:
    with Pool(EngineSettings(), workers=1, timeout=120) as pool:
        pool.submit("clip", str(data / SLOW))
        first = busy_pid(pool)
        os.kill(first, signal.SIGKILL)
        second = busy_pid(pool, other_than=first)
        os.kill(second, signal.SIGKILL)
        (_, report), = first_results(pool)
        assert "died (signal 9), twice" in report.error
        # The pool still works.
        pool.submit("photo", str(data / "people" / "Barack_Obama" / "obama.jpg"))
        assert first_results(pool)[0][1].faces


def test_a_file_that_takes_too_long_is_abandoned(data: Path) -> None:
    with Pool(EngineSettings(), workers=1, timeout=0.5) as pool:
        pool.submit("clip", str(data / SLOW))
        hung = busy_pid(pool)
        started = time.monotonic()
        results = first_results(pool)
        assert time.monotonic() - started < 5
        assert "longer than 0.5 s" in results[0][1].error
        assert hung not in [w.process.pid for w in pool._workers]


def test_a_forkserver_started_early_is_the_one_the_workers_fork_from(tmp_path: Path) -> None:
    # facewatchd's command line starts it before importing the rest of the daemon, so the
    # models load meanwhile; the pool made afterwards must use it, not start another.
    script = tmp_path / "early.py"
    script.write_text(
        "import multiprocessing.forkserver as fs\n"
        "from facewatchd.engine.pool import Pool, start_forkserver\n"
        "from facewatchd.engine.worker import EngineSettings\n"
        "start_forkserver()\n"
        "server = fs._forkserver._forkserver_pid\n"
        "with Pool(EngineSettings(), workers=1, timeout=60) as pool:\n"
        "    pid = pool._workers[0].process.pid\n"
        "    parent = int(open(f'/proc/{pid}/stat').read().rsplit(')', 1)[1].split()[1])\n"
        "    print(server, parent, fs._forkserver._forkserver_pid)\n")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=True)
    server, parent, later = (int(v) for v in out.stdout.split())
    assert server == parent == later
