"""Speed: facewatchd against the face_recognition CLI on a phone dump, in one run.

    .venv/bin/python tests/bench/bench.py [--data DIR] [--workers 2] [--keep DIR]

Builds a phone dump from the development photos: each photo scaled up and saved as a
12-megapixel JPEG (quality 90, as phones do), plus HEIC copies and the videos. The
first 3 photos of each person with more than 3 are the references (as they are), the
rest are probes. Then, side by side on the same machine:

1. `facewatchd --oneshot` with N workers on the 12 MP JPEGs (its start-up included),
   the references enrolled by a run before; then again from nothing, one run that
   enrols and sorts (a new user's first run),
2. the same JPEGs through a watching daemon whose workers are up and references enrolled
   (a home server's steady state): from the first file's arrival to the last one moved,
3. `face_recognition --cpus N KNOWN UNKNOWN` on the same JPEGs,
4. `facewatchd --oneshot` on the HEICs and videos (the CLI reads neither),

and prints files per second, the ratio, each side's recall (photos of enrolled people
filed under them), facewatchd's peak memory per process (VmHWM), the CPU an idle daemon
uses, and how long matching takes against 100,000 references.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pillow_heif
from PIL import Image, ImageOps

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from facewatchd.control.client import Client  # noqa: E402
from facewatchd.engine.report import Face, FaceReport  # noqa: E402
from facewatchd.policy.decide import Policy, References, decide  # noqa: E402
from tests import reference_cli  # noqa: E402

BIN = Path(sys.executable).parent
MEGAPIXELS = 12e6
REFS = 3


def truth_of(data: Path) -> dict[str, set[str]]:
    truth = {}
    with open(data / "manifest.csv", newline="") as f:
        for row in csv.DictReader(f):
            name = row["person_name"]
            if name != "unlabeled_group":
                truth[row["path"]] = set() if name in ("none", "unknown_person") else set(name.split(";"))
    return truth


def upscale(source: Path) -> Image.Image:
    image = ImageOps.exif_transpose(Image.open(source)).convert("RGB")
    factor = (MEGAPIXELS / (image.width * image.height)) ** 0.5
    return image.resize((round(image.width * factor), round(image.height * factor)),
                        Image.Resampling.BICUBIC)


def build(data: Path, out: Path) -> None:
    """references/PERSON/, jpeg/ (12 MP probes), extra/ (HEIC, video)."""
    truth = truth_of(data)
    people = defaultdict(list)
    for path in sorted(truth):
        if path.startswith("people/"):
            people[path.split("/")[1]].append(path)
    enrolled = {p for p, paths in people.items() if len(paths) > REFS}
    for person, paths in people.items():
        refs = paths[:REFS] if person in enrolled else []
        for path in refs:
            (out / "references" / person).mkdir(parents=True, exist_ok=True)
            shutil.copy2(data / path, out / "references" / person)
    (out / "jpeg").mkdir()
    (out / "extra").mkdir()
    refs_used = {p for person in enrolled for p in people[person][:REFS]}
    for path in sorted(truth):
        if path in refs_used or path.startswith(("video/", "formats/")):
            continue
        name = path.replace("/", "--").rsplit(".", 1)[0] + ".jpg"
        upscale(data / path).save(out / "jpeg" / name, "JPEG", quality=90)
    for path in ("people/Barack_Obama/obama2.jpg", "people/Kit_Harington/johnsnow_test1.jpg"):
        name = path.replace("/", "--").rsplit(".", 1)[0] + ".heic"
        heif = pillow_heif.from_pillow(upscale(data / path))
        heif.save(out / "extra" / name, quality=80)
    for video in sorted((data / "video").iterdir()):
        shutil.copy2(video, out / "extra" / video.name)


class PeakMemory:
    """The largest VmHWM (peak resident memory) seen in a process and its descendants."""

    def __init__(self, pid: int) -> None:
        self.pid, self.main, self.worker = pid, 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.wait(0.5):  # VmHWM keeps the peak: no need to look often
            tree = descendants(self.pid)
            self.main = max(self.main, _status_kb(self.pid, "VmHWM"))
            # Workers are forked by the forkserver, the main process's child.
            servers = {pid for pid, parent in tree if parent == self.pid and "forkserver" in _cmdline(pid)}
            for pid, parent in tree:
                if parent in servers:
                    self.worker = max(self.worker, _status_kb(pid, "VmHWM"))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def descendants(root: int) -> list[tuple[int, int]]:
    """(pid, parent pid) of `root` and every process below it."""
    children = defaultdict(list)
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children[ppid].append(int(entry))
    found, todo = [], [(root, 0)]
    while todo:
        pid, parent = todo.pop()
        found.append((pid, parent))
        todo += [(child, pid) for child in children.get(pid, [])]
    return found


def _status_kb(pid: int, key: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().decode(errors="replace")
    except OSError:
        return ""


def write_config(work: Path, refs: Path, inbound: Path, workers: int) -> Path:
    (work / "sorted").mkdir(exist_ok=True)
    config = work / "facewatchd.toml"
    config.write_text(f'[daemon]\nstate_dir = "state"\nsocket = "state/s.sock"\nworkers = {workers}\n'
                      f'settle = 0.2\n\n[recognition]\nreferences = "{refs}"\n\n[[watch]]\n'
                      f'inbound = "{inbound}"\ndestination = "sorted/{{person}}"\nreview = "review"\n')
    return config


def run_facewatchd(dump: Path, folder: str, workers: int,
                   enrol_first: bool = True) -> tuple[float, float, dict[str, set[str]], PeakMemory]:
    """Enrol the references (a run with nothing in inbound), then sort `folder`: the
    seconds of each, where files went, and the peak memory of the sorting run. Without
    `enrol_first`, one run from nothing does both (as a new user's first run)."""
    with tempfile.TemporaryDirectory(prefix="facewatchd-bench-") as tmp:
        work = Path(tmp)
        (work / "inbound").mkdir()
        config = write_config(work, dump / "references", work / "inbound", workers)
        command = [BIN / "facewatchd", "--oneshot", "--config", config, "--log", "stderr"]
        started = time.monotonic()
        if enrol_first:
            # The oneshot's own progress line on our stderr: the figures alone on stdout.
            subprocess.run(command, check=True, stdout=sys.stderr, stderr=subprocess.DEVNULL)
        enrolling = time.monotonic() - started
        for file in (dump / folder).iterdir():
            shutil.copy2(file, work / "inbound")
        started = time.monotonic()
        proc = subprocess.Popen(command, stdout=sys.stderr, stderr=subprocess.PIPE)
        memory = PeakMemory(proc.pid)
        _, err = proc.communicate()
        seconds = time.monotonic() - started
        memory.stop()
        if proc.returncode != 0:
            raise SystemExit(f"facewatchd failed: {err.decode()[-2000:]}")
        return enrolling, seconds, placed_in(work / "sorted"), memory


def run_watching(dump: Path, folder: str, workers: int) -> tuple[float, dict[str, set[str]]]:
    """`folder`'s files renamed into a watching daemon's inbound at once, once its start-up
    is over: the seconds from the first arrival until the last file is moved, and where
    files went."""
    with tempfile.TemporaryDirectory(prefix="facewatchd-bench-") as tmp:
        work = Path(tmp)
        (work / "inbound").mkdir()
        (work / "staged").mkdir()  # on the same filesystem: a rename is an arrival
        files = sorted((dump / folder).iterdir())
        for file in files:
            shutil.copy2(file, work / "staged")
        config = write_config(work, dump / "references", work / "inbound", workers)
        with watching_daemon(config, work / "state" / "s.sock", 120):
            client = Client(work / "state" / "s.sock")
            seen: tuple[object, ...] = ()
            while True:  # until the references enrolled at start stop changing
                status = client.call("status", {})
                now = (status["references"], status["queued"], status["in_flight"])
                if now == seen and status["references"]:
                    break
                seen = now
                time.sleep(1)
            started = time.monotonic()
            for file in files:
                os.rename(work / "staged" / file.name, work / "inbound" / file.name)
            while client.call("status", {})["processed"] < len(files):
                time.sleep(0.05)
            seconds = time.monotonic() - started
            client.close()
        return seconds, placed_in(work / "sorted")


def placed_in(destination: Path) -> dict[str, set[str]]:
    """File name → the people it was filed under, from the folder per person."""
    placed: dict[str, set[str]] = defaultdict(set)
    for person in destination.iterdir():
        for file in person.rglob("*"):
            placed[file.name].add(person.name)
    return placed


def run_cli(dump: Path, workers: int) -> tuple[float, dict[str, set[str]]]:
    with tempfile.TemporaryDirectory(prefix="facewatchd-bench-") as tmp:
        known = reference_cli.known_folder(
            {p.name: sorted(p.iterdir()) for p in (dump / "references").iterdir()}, Path(tmp) / "known")
        placed, seconds = reference_cli.run(known, dump / "jpeg", cpus=workers)
    return seconds, placed


def recall(probes: dict[str, set[str]], enrolled: set[str], placed: dict[str, set[str]],
           names: list[str]) -> str:
    wanted = found = wrong = 0
    for name in names:
        truth = probes[name] & enrolled
        wanted += len(truth)
        found += len(truth & placed.get(name, set()))
        wrong += len(placed.get(name, set()) - probes[name])
    return f"recall {found / wanted:.3f} ({found}/{wanted}), {wrong} wrong placements"


def idle_cpu(dump: Path, seconds: float = 10.0) -> float:
    """CPU seconds a watching daemon (and its workers) uses while nothing arrives."""
    with tempfile.TemporaryDirectory(prefix="facewatchd-bench-") as tmp:
        work = Path(tmp)
        (work / "inbound").mkdir()
        config = write_config(work, dump / "references", work / "inbound", 2)
        with watching_daemon(config, work / "state" / "s.sock", 120) as proc:
            before = sum(_cpu_ticks(pid) for pid, _ in descendants(proc.pid))
            time.sleep(seconds)
            after = sum(_cpu_ticks(pid) for pid, _ in descendants(proc.pid))
    return (after - before) / os.sysconf("SC_CLK_TCK")


@contextmanager
def watching_daemon(config: Path, socket: Path, timeout: float) -> Iterator[subprocess.Popen[bytes]]:
    """A daemon on `config`, given once its control socket is there and start-up has
    settled (3 s); stopped on leaving."""
    proc = subprocess.Popen([BIN / "facewatchd", "--config", config, "--log", "stderr"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + timeout
        while not socket.exists():
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit("the daemon did not start")
            time.sleep(0.2)
        time.sleep(3)
        yield proc
    finally:
        proc.terminate()
        proc.wait()


class CpuClock:
    """CPU seconds (user + system) used by a process and all its descendants (or only
    its descendants), read from /proc every 0.1 s while they live: on a machine shared
    with other jobs, wall time says more about the neighbours than about us, CPU time
    much less."""

    def __init__(self, pid: int, children_only: bool = False) -> None:
        self.pid, self.children_only, self.ticks = pid, children_only, {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while True:
            for pid, _ in descendants(self.pid):
                if not (self.children_only and pid == self.pid):
                    self.ticks[pid] = max(self.ticks.get(pid, 0), _cpu_ticks(pid))
            if self._stop.wait(0.1):
                return

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return sum(self.ticks.values()) / os.sysconf("SC_CLK_TCK")


def _cpu_ticks(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return 0


def matching_ms(references: int = 100_000, faces: int = 1) -> float:
    rng = np.random.default_rng(0)
    # 5,000 people with 20 references each, in person order as the store loads them.
    refs = References(tuple(range(references)), tuple(f"p{i // 20:04d}" for i in range(references)),
                      rng.normal(0, 0.1, (references, 128)))
    report = FaceReport("/x.jpg", "image", faces=tuple(
        Face((0, 1, 1, 0), rng.normal(0, 0.1, 128), 1.0) for _ in range(faces)))
    policy = Policy(lambda person: 0.6)
    decide(report, refs, policy)  # the per-person grouping is built once per reference set
    started = time.perf_counter()
    for _ in range(5):
        decide(report, refs, policy)
    return (time.perf_counter() - started) / 5 * 1000


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "faces")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--keep", type=Path, help="build the dump here and keep it (reused if there)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="facewatchd-dump-") as tmp:
        dump = args.keep or Path(tmp)
        if not (dump / "jpeg").is_dir():
            dump.mkdir(parents=True, exist_ok=True)
            print(f"building the phone dump in {dump} ...", flush=True)
            build(args.data, dump)
        probes, enrolled = build_index(args.data, dump)
        jpegs = sorted(p.name for p in (dump / "jpeg").iterdir())
        extras = sorted(p.name for p in (dump / "extra").iterdir())
        print(f"{len(jpegs)} JPEGs of ~12 MP, {len(extras)} HEICs and videos; "
              f"{len(enrolled)} people enrolled with {REFS} references each; {args.workers} workers")
        enrolling, fw_seconds, fw_placed, memory = run_facewatchd(dump, "jpeg", args.workers)
        _, fresh_seconds, fresh_placed, _ = run_facewatchd(dump, "jpeg", args.workers, enrol_first=False)
        live_seconds, live_placed = run_watching(dump, "jpeg", args.workers)
        cli_seconds, cli_placed = run_cli(dump, args.workers)
        cold = fw_seconds + enrolling
        print(f"facewatchd  {len(jpegs) / fw_seconds:6.2f} files/s ({fw_seconds:5.1f} s, references "
              f"enrolled before, as a daemon has them)  {recall(probes, enrolled, fw_placed, jpegs)}")
        print(f"            {len(jpegs) / cold:6.2f} files/s ({cold:5.1f} s, counting the "
              f"{enrolling:.1f} s run that enrolled the references)")
        print(f"first run   {len(jpegs) / fresh_seconds:6.2f} files/s ({fresh_seconds:5.1f} s, one run from "
              f"nothing: enrolling, then sorting)  {recall(probes, enrolled, fresh_placed, jpegs)}")
        print(f"watching    {len(jpegs) / live_seconds:6.2f} files/s ({live_seconds:5.1f} s, a daemon "
              f"already running)  {recall(probes, enrolled, live_placed, jpegs)}")
        print(f"CLI         {len(jpegs) / cli_seconds:6.2f} files/s ({cli_seconds:5.1f} s, "
              f"encoding the references each run)  {recall(probes, enrolled, cli_placed, jpegs)}")
        print(f"ratio       {cli_seconds / fw_seconds:.1f}x ({cli_seconds / cold:.1f}x counting enrolment, "
              f"{cli_seconds / fresh_seconds:.1f}x first run, {cli_seconds / live_seconds:.1f}x watching)")
        print(f"peak memory: main process {memory.main / 1024:.0f} MB, "
              f"largest worker {memory.worker / 1024:.0f} MB")
        _, ex_seconds, ex_placed, _ = run_facewatchd(dump, "extra", args.workers)
        print(f"HEIC+video  {len(extras) / ex_seconds:6.2f} files/s ({ex_seconds:5.1f} s)  "
              f"{recall(probes, enrolled, ex_placed, extras)} (facewatchd only)")
        print(f"idle daemon: {idle_cpu(dump):.2f} CPU seconds in 10 s (main process and workers)")
    print(f"matching against 100,000 references: {matching_ms(100_000, 1):.1f} ms for one face, "
          f"{matching_ms(100_000, 10):.1f} ms for ten")
    return 0


def build_index(data: Path, dump: Path) -> tuple[dict[str, set[str]], set[str]]:
    """Who is in each file of an existing dump (its names encode the source path)."""
    truth = truth_of(data)
    probes = {}
    for folder in ("jpeg", "extra"):
        for file in (dump / folder).iterdir():
            source = file.name.rsplit(".", 1)[0].replace("--", "/")
            match = [who for path, who in truth.items() if path.rsplit(".", 1)[0] == source
                     or path == f"video/{file.name}"]
            probes[file.name] = match[0] if match else set()
    return probes, {p.name for p in (dump / "references").iterdir()}


if __name__ == "__main__":
    sys.exit(main())
