"""A real Dask cluster for the tests: `dask scheduler` and `dask worker` processes on
127.0.0.1 (random free ports), started with their own commands as a user would.

Workers run `--no-nanny --nthreads 1` (dlib holds the GIL: one process per core), so
killing a worker's pid kills that worker. Like systemd's Restart=always, a watcher
thread starts a worker again when it ends (unless told not to): Dask workers exit when
their scheduler goes away, and wait for it when started before it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from .helpers import ROOT

BIN = Path(sys.executable).parent
DEADLINE = 60.0  # seconds for anything to come up


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def dask_available() -> bool:
    return (BIN / "dask").exists() and subprocess.run(
        [sys.executable, "-c", "import distributed"], capture_output=True).returncode == 0


class DaskCluster:
    def __init__(self, folder: Path, workers: int = 2, env: dict[str, str] | None = None,
                 restart_workers: bool = True, port: int | None = None) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.env = {**os.environ, "PYTHONWARNINGS": "ignore", **(env or {})}
        self.names = [f"w{i}" for i in range(1, workers + 1)]
        self.restart_workers = restart_workers
        self.scheduler: subprocess.Popen[bytes] | None = None
        self.workers: dict[str, subprocess.Popen[bytes]] = {}
        self.started = 0  # worker processes started, restarts included
        self._lock = threading.Lock()
        self._closing = False
        self._watcher = threading.Thread(target=self._watch, daemon=True)

    # Processes

    def start(self, wait: bool = True) -> DaskCluster:
        self.start_scheduler()
        for name in self.names:
            self._start_worker(name)
        self._watcher.start()
        if wait:
            self.wait_for_workers(len(self.names))
        return self

    def start_scheduler(self) -> None:
        with (self.folder / "scheduler.log").open("ab") as log:
            self.scheduler = subprocess.Popen(
                [str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(self.port),
                 "--no-dashboard"],
                stdout=subprocess.DEVNULL, stderr=log, env=self.env, cwd=ROOT)
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            assert self.scheduler.poll() is None, (self.folder / "scheduler.log").read_text()[-2000:]
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"no scheduler on port {self.port} within {DEADLINE} s")

    def _start_worker(self, name: str) -> None:
        with self._lock, (self.folder / f"{name}.log").open("ab") as log:
            self.workers[name] = subprocess.Popen(
                [str(BIN / "dask"), "worker", self.address, "--name", name, "--nthreads", "1",
                 "--no-nanny", "--no-dashboard", "--memory-limit", "0",
                 "--local-directory", str(self.folder / "scratch")],
                stdout=subprocess.DEVNULL, stderr=log, env=self.env, cwd=ROOT)
            self.started += 1

    def _watch(self) -> None:
        while not self._closing:
            time.sleep(0.2)
            if not self.restart_workers:
                continue
            for name, proc in list(self.workers.items()):
                if proc.poll() is not None and not self._closing:
                    self._start_worker(name)

    def kill_worker(self, name: str) -> int:
        proc = self.workers[name]
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return proc.pid

    def pause_workers(self) -> None:
        """SIGSTOP every worker: a stand-in for analysis stuck in dlib, which holds the GIL,
        so neither the worker's own time limit nor its heartbeats go on."""
        for proc in self.workers.values():
            proc.send_signal(signal.SIGSTOP)

    def resume_workers(self) -> None:
        for proc in self.workers.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGCONT)

    def kill_scheduler(self) -> None:
        assert self.scheduler is not None
        self.scheduler.send_signal(signal.SIGKILL)
        self.scheduler.wait()

    def close(self) -> None:
        self._closing = True
        if self._watcher.is_alive():
            self._watcher.join()
        procs = list(self.workers.values()) + ([self.scheduler] if self.scheduler else [])
        self.resume_workers()  # a stopped process would not act on SIGTERM
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + 5
        for proc in procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def __enter__(self) -> DaskCluster:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # Looking at it, through a client of its own (in a subprocess: the test process
    # keeps its warnings-as-errors and no Dask threads)

    def ask(self, code: str, timeout: float = DEADLINE) -> object:
        script = ("import json, sys\nfrom distributed import Client\n"
                  f"c = Client({self.address!r}, timeout=20)\n" + code +
                  "\nc.close()\n")
        result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                                timeout=timeout, env=self.env, cwd=ROOT)
        assert result.returncode == 0, result.stderr[-3000:]
        return json.loads(result.stdout.strip().splitlines()[-1])

    def wait_for_workers(self, n: int) -> None:
        self.ask(f"c.wait_for_workers({n}, timeout={DEADLINE})\nprint(json.dumps(1))")

    def busy(self) -> dict[str, int]:
        """Worker name -> tasks it is processing now."""
        return self.ask(
            "info = c.scheduler_info(n_workers=-1)['workers']\n"
            "print(json.dumps({info[a]['name']: len(k) for a, k in c.processing().items()\n"
            "                  if a in info}))")
