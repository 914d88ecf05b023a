"""Speed on a Dask cluster against the local pool, on this machine, in one run.

    .venv/bin/python tests/bench/bench_cluster.py [--data DIR] [--keep DIR] [--files N]

The phone dump of bench.py (12-megapixel JPEGs of the development photos), sorted by
`facewatchd --oneshot` with the references enrolled before (a daemon's steady state):

1. the local pool, 2 worker processes;
2. a Dask cluster on 127.0.0.1 with 1 worker (`dask worker --nthreads 1`);
3. the same with 2 workers; 4. 2 workers with send_bytes (the daemon sends the bytes);

then the per-task cost with tiny pictures (analysis ~free) through the pools directly:
local pool, cluster with batch 1 and batch 16; the CPU the daemon side, the scheduler and
the workers spend per file and per task; and, from those figures, what N machines of M
cores would make of a million photos. Same placements everywhere is checked, not assumed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from tests.bench.bench import BIN, CpuClock, _cpu_ticks, build, watching_daemon  # noqa: E402
from tests.dask_cluster import DaskCluster  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def config_text(refs: Path, inbound: Path, cluster: str = "") -> str:
    return (f'[daemon]\nstate_dir = "state"\nsocket = "state/s.sock"\nworkers = 2\n\n'
            f'[recognition]\nreferences = "{refs}"\n\n[[watch]]\ninbound = "{inbound}"\n'
            f'destination = "sorted/{{person}}"\nreview = "review"\n\n{cluster}')


def cpu_seconds(pids: list[int]) -> float:
    return sum(_cpu_ticks(pid) for pid in pids) / TICK


class Setup:
    """One way of analysing (a [cluster] section or none), its references enrolled once
    into a template state that each run starts from (a daemon's steady state)."""

    def __init__(self, name: str, dump: Path, folder: Path, cluster: str = "",
                 dask: DaskCluster | None = None) -> None:
        self.name, self.dump, self.folder, self.cluster, self.dask = name, dump, folder, cluster, dask
        self.template = folder / "template"
        self.template.mkdir(parents=True)
        self.runs: list[dict] = []
        self.fixed_cpu = self.run([])["main_cpu"]  # enrols; then a run with nothing to do:
        self.fixed_cpu = self.run([])["main_cpu"]  # start-up, connecting, hashing references

    def run(self, files: list[Path]) -> dict:
        """Sort `files` from the enrolled state: seconds, placements, and the CPU of the
        main process (os.wait4), the scheduler and the workers meanwhile."""
        work = Path(tempfile.mkdtemp(dir=self.folder))
        try:
            if (self.template / "state").exists():
                shutil.copytree(self.template / "state", work / "state")
            (work / "inbound").mkdir()
            (work / "sorted").mkdir()
            config = work / "facewatchd.toml"
            config.write_text(config_text(self.dump / "references", work / "inbound", self.cluster))
            for file in files:
                shutil.copy2(file, work / "inbound")
            dask = self.dask
            remote = ([dask.scheduler.pid] + [p.pid for p in dask.workers.values()]) if dask else []
            before = [cpu_seconds([pid]) for pid in remote]
            started = time.monotonic()
            with (work / "err.txt").open("w") as err:  # its progress line on our stderr
                proc = subprocess.Popen([str(BIN / "facewatchd"), "--oneshot", "--config", str(config),
                                         "--log", "stderr"], stdout=sys.stderr, stderr=err)
            children = CpuClock(proc.pid, children_only=True)  # the local pool's workers (under its forkserver)
            _, status, usage = os.wait4(proc.pid, 0)
            workers_cpu = children.stop()
            proc.returncode = os.waitstatus_to_exitcode(status)
            seconds = time.monotonic() - started
            if proc.returncode != 0:
                raise SystemExit(f"facewatchd failed: {(work / 'err.txt').read_text()[-2000:]}")
            if not (self.template / "state").exists():
                shutil.copytree(work / "state", self.template / "state")
            remote_cpu = [cpu_seconds([pid]) - b for pid, b in zip(remote, before, strict=True)]
            placed: dict[str, set[str]] = defaultdict(set)
            for folder in ("sorted", "review"):
                for file in (work / folder).rglob("*"):
                    if file.is_file():
                        placed[file.name].add(file.parent.name)
            return {"seconds": seconds, "rate": len(files) / seconds if files else 0.0,
                    "placed": dict(placed), "main_cpu": usage.ru_utime + usage.ru_stime,
                    "scheduler_cpu": remote_cpu[0] if remote else 0.0,
                    "workers_cpu": sum(remote_cpu[1:]) if remote else workers_cpu}
        finally:
            shutil.rmtree(work)

    def median(self, key: str) -> float:
        values = sorted(r[key] for r in self.runs)
        return values[len(values) // 2]


def idle_cpu(dump: Path, work: Path, cluster: str = "", seconds: float = 10.0) -> float:
    """CPU seconds a watching daemon's main process uses while nothing arrives."""
    (work / "inbound").mkdir(parents=True)
    (work / "sorted").mkdir()
    config = work / "facewatchd.toml"
    config.write_text(config_text(dump / "references", work / "inbound", cluster))
    with watching_daemon(config, work / "state" / "s.sock", 300) as proc:
        before = cpu_seconds([proc.pid])
        time.sleep(seconds)
        return cpu_seconds([proc.pid]) - before


def sorting_seconds(pictures: list[str], work: Path) -> float:
    """Wall seconds the daemon's main thread spends on one analysed file: decide, move
    (rename, fsync of both folders) and ledger (SQLite, WAL), as `Sorter.handle` does."""
    from facewatchd.config import load
    from facewatchd.engine.faces import FaceEngine
    from facewatchd.files.sorter import Sorter
    from facewatchd.state import Store

    (work / "references").mkdir(parents=True)
    (work / "inbound").mkdir()
    (work / "sorted").mkdir()
    config = work / "facewatchd.toml"
    config.write_text(config_text(work / "references", work / "inbound"))
    for picture in pictures:
        shutil.copy2(picture, work / "inbound")
    engine = FaceEngine()
    reports = [engine.analyse(path) for path in sorted((work / "inbound").iterdir())]
    with Store(work / "state") as store:
        sorter = Sorter(load(config), store)
        started = time.monotonic()
        for report in reports:
            sorter.handle(report)
        return (time.monotonic() - started) / len(reports)


def tiny_pictures(folder: Path, n: int) -> list[str]:
    """No-face 48x48 PNGs, each different: analysis costs ~nothing, the trip is all."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        path = folder / f"tiny{i:05d}.png"
        Image.fromarray(rng.integers(0, 255, (48, 48, 3), dtype=np.uint8)).save(path)
        paths.append(str(path))
    return paths


def through_pool(pool, paths: list[str]) -> tuple[float, float]:
    """Seconds for `paths` through `pool.imap`, and this process's CPU seconds meanwhile."""
    started, cpu = time.monotonic(), time.process_time()
    n = sum(1 for _ in pool.imap(paths))
    assert n == len(paths)
    return time.monotonic() - started, time.process_time() - cpu


def per_task(dask: DaskCluster, paths: list[str]) -> dict:
    from facewatchd.config import ClusterConfig
    from facewatchd.engine.cluster import ClusterPool
    from facewatchd.engine.pool import Pool
    from facewatchd.engine.worker import EngineSettings

    result = {}
    with Pool(EngineSettings(), 2, 60) as pool:
        list(pool.imap(paths[:20]))  # warm
        result["local"] = through_pool(pool, paths)
    for batch in (1, 16):
        with ClusterPool(EngineSettings(), ClusterConfig(dask.address, batch=batch), 60) as pool:
            pool.wait_connected()
            list(pool.imap(paths[:20]))  # models loaded, connections made
            sched_before = cpu_seconds([dask.scheduler.pid])
            workers = [p.pid for p in dask.workers.values()]
            workers_before = cpu_seconds(workers)
            seconds, cpu = through_pool(pool, paths)
            result[f"batch {batch}"] = (seconds, cpu, cpu_seconds([dask.scheduler.pid]) - sched_before,
                                        cpu_seconds(workers) - workers_before)
    return result


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "faces")
    p.add_argument("--keep", type=Path, help="build the dump here and keep it (reused if there)")
    p.add_argument("--files", type=int, default=0, help="only the first N JPEGs (0: all)")
    p.add_argument("--tiny", type=int, default=400, help="tiny pictures for the per-task cost")
    p.add_argument("--rounds", type=int, default=3, help="runs of each setup, interleaved")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="facewatchd-dump-") as tmp:
        dump = args.keep or Path(tmp)
        if not (dump / "jpeg").is_dir():
            dump.mkdir(parents=True, exist_ok=True)
            print(f"building the phone dump in {dump} ...", flush=True)
            build(args.data, dump)
        jpegs = sorted((dump / "jpeg").iterdir())[:args.files or None]
        print(f"{len(jpegs)} JPEGs of ~12 MP; {os.cpu_count()} CPUs here (shared); "
              f"dask scheduler and workers on 127.0.0.1", flush=True)
        work = Path(tmp)
        with DaskCluster(work / "dask1", workers=1) as dask1, \
                DaskCluster(work / "dask2", workers=2) as dask2:
            dask1.start()
            dask2.start()
            one = f'[cluster]\nscheduler = "{dask1.address}"\n'
            two = f'[cluster]\nscheduler = "{dask2.address}"\n'
            setups = [Setup("local pool, 2 processes", dump, work / "local"),
                      Setup("cluster, 1 worker", dump, work / "c1", one, dask1),
                      Setup("cluster, 2 workers", dump, work / "c2", two, dask2),
                      Setup("cluster, 2 workers, send_bytes", dump, work / "c2b",
                            two + "send_bytes = true\n", dask2)]
            for round_ in range(args.rounds):  # interleaved: the machine is shared
                for setup in setups:
                    setup.runs.append(setup.run(jpegs))
                    print(f"  round {round_ + 1}: {setup.name}: {setup.runs[-1]['rate']:.2f} files/s",
                          flush=True)
            tiny = tiny_pictures(work / "tiny", args.tiny)
            overhead = per_task(dask2, tiny)
            sorting = sorting_seconds(tiny[:200], work / "sorting")
            idle = {"local pool": idle_cpu(dump, work / "idle-local"),
                    "cluster": idle_cpu(dump, work / "idle-cluster", two)}
        n_files = len(jpegs)
        reference = setups[0].runs[0]["placed"]
        print(f"\n12 MP JPEGs, median of {args.rounds} interleaved runs; CPU seconds a file:")
        print(f"{'':34} {'files/s':>8} {'total':>7} {'daemon':>7} {'scheduler':>9} "
              f"{'workers':>8}  same placements as the local pool")
        for setup in setups:
            daemon = (setup.median("main_cpu") - setup.fixed_cpu) / n_files
            sched = setup.median("scheduler_cpu") / n_files
            workers = setup.median("workers_cpu") / n_files
            same = all(r["placed"] == reference for r in setup.runs)
            print(f"{setup.name:34} {setup.median('rate'):8.2f} {daemon + sched + workers:7.3f} "
                  f"{daemon:7.3f} {sched:9.3f} {workers:8.3f}  {'yes' if same else 'NO'}")
        local, c1, c2 = (s.median("rate") for s in setups[:3])
        print(f"the cluster with 2 workers gives {c2 / local:.0%} of the local pool's rate, "
              f"1 worker {c1 / local:.0%} (wall clock on a shared machine: noisy; CPU is steadier)")
        print("idle daemon, CPU seconds in 10 s: " + ", ".join(
            f"{name} {seconds:.2f}" for name, seconds in idle.items()) +
            " (with a cluster: the Dask client's heartbeats and the look at the connection)")

        n = len(tiny)
        local_s, _ = overhead["local"]
        print(f"\n{n} tiny pictures (analysis ~free), through the pools directly:")
        print(f"  local pool, 2 processes  {n / local_s:7.1f} files/s")
        per: dict[int, tuple[float, float, float]] = {}
        for batch in (1, 16):
            seconds, cpu, sched, workers_cpu = overhead[f"batch {batch}"]
            tasks = n / batch
            per[batch] = (workers_cpu / tasks, sched / tasks, cpu / n)
            print(f"  cluster, batch {batch:<2}       {n / seconds:7.1f} files/s; CPU a task: "
                  f"workers {workers_cpu / tasks * 1000:5.1f} ms, "
                  f"scheduler {sched / tasks * 1000:5.2f} ms; "
                  f"daemon side {cpu / n * 1000:5.2f} ms a file")
        # Worker CPU a task = o + batch * f: two batches give the per-task part o.
        f_cost = (per[16][0] - per[1][0]) / 15
        task_cpu = max(0.0, per[1][0] - f_cost)
        sched_task = per[1][1]
        print(f"  => per task: ~{task_cpu * 1000:.1f} ms of worker CPU and ~{sched_task * 1000:.2f} ms "
              f"of scheduler CPU, whatever its size; per file sent and collected, "
              f"~{per[16][2] * 1000:.2f} ms of the daemon's CPU")

        batch = 4
        photo = setups[2].median("workers_cpu") / n_files  # core-seconds a 12 MP photo
        cpu_file = (setups[2].median("main_cpu") - setups[2].fixed_cpu) / n_files
        # The main thread: its CPU a file, or the wall time of sorting one (fsyncs), if longer.
        main_file = max(cpu_file, sorting + per[16][2])
        print(f"  the daemon's main thread sorts a file in {sorting * 1000:.1f} ms (wall: decide, "
              f"rename, fsync, ledger); its CPU a file in the runs above: {cpu_file * 1000:.1f} ms")
        daemon_cap, sched_cap = 1 / main_file, batch / sched_task
        print(f"\nOn paper, a million 12 MP photos (batch {batch}, shared storage): a photo costs "
              f"{photo:.2f} core-s on a worker plus {task_cpu / batch * 1000:.1f} ms of its task; "
              f"ceilings: the daemon's main thread ~{daemon_cap:.0f} files/s ({main_file * 1000:.1f} ms "
              f"a file: send, collect, decide, move, ledger), the scheduler ~{sched_cap:.0f} "
              f"files/s; storage at ~4 MB a photo: 1 Gbit/s ~27 files/s, 10 Gbit/s ~270 files/s")
        for machines, cores in ((1, 2), (4, 8), (10, 16), (25, 32), (50, 32)):
            compute = machines * cores / (photo + task_cpu / batch)
            rate = min(compute, daemon_cap, sched_cap)
            bound = "workers" if rate == compute else "daemon" if rate == daemon_cap else "scheduler"
            print(f"  {machines:3} x {cores:2} cores: {rate:7.1f} files/s -> {1e6 / rate / 3600:6.1f} h "
                  f"({bound}-bound; storage must give {rate * 4:.0f} MB/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
