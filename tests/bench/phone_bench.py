"""Speed and recall on phone-sized photos with small faces, against the CLI, in one run.

    .venv/bin/python tests/bench/phone_bench.py [--dump DIR] [--people DIR] [--seed 0]
        [--option fine_pass=never --option fine_pass=no_face ...] [--workers 2]

Builds (or reuses, with --dump) a phone dump with tests/bench/phone.py: 12 MP JPEGs with
faces from 2% of the photo's side up (people at a distance, groups, photos scaled up),
references as given. Then sorts the same JPEGs, one after the other on this machine:

1. `facewatchd --oneshot`, once per `--option` (a [recognition] setting; default: the
   defaults, then fine_pass = "always" and "never"), references enrolled before (a
   daemon's steady state), N workers;
2. `face_recognition --cpus N --tolerance 0.6 KNOWN UNKNOWN` (it encodes its references
   each run, as it always does).

For each: files/s, the ratio to the CLI, recall (photo, enrolled person in it) pairs
filed under that person, precision (right placements / all placements). Speed must
never again be bought with missed faces: compare the rows of one run only, since the
machine's load changes between runs.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))
from tests import reference_cli  # noqa: E402
from tests.bench import phone  # noqa: E402
from tests.bench.bench import CpuClock  # noqa: E402


def config(work: Path, refs: Path, inbound: Path, workers: int, options: list[str]) -> Path:
    (work / "sorted").mkdir(exist_ok=True)
    extra = "".join(f"{o.split('=', 1)[0]} = {_toml(o.split('=', 1)[1])}\n" for o in options)
    path = work / "facewatchd.toml"
    path.write_text(f'[daemon]\nstate_dir = "state"\nsocket = "state/s.sock"\nworkers = {workers}\n'
                    f'settle = 0.2\n\n[recognition]\nreferences = "{refs}"\n{extra}\n[[watch]]\n'
                    f'inbound = "{inbound}"\ndestination = "sorted/{{person}}"\nreview = "review"\n')
    return path


def _toml(value: str) -> str:
    try:
        float(value)
        return value
    except ValueError:
        return value if value in ("true", "false") else json.dumps(value)


def run_facewatchd(dump: Path, workers: int, options: list[str]) -> tuple[float, float, dict[str, set[str]]]:
    with tempfile.TemporaryDirectory(prefix="facewatchd-phone-") as tmp:
        work = Path(tmp)
        (work / "inbound").mkdir()
        cfg = config(work, dump / "references", work / "inbound", workers, options)
        command = [BIN / "facewatchd", "--oneshot", "--config", cfg, "--log", "stderr"]
        started = time.monotonic()
        _run(command)  # enrols the references
        enrolling = time.monotonic() - started
        for file in (dump / "jpeg").iterdir():
            shutil.copy2(file, work / "inbound")
        seconds, cpu, _ = timed(command)
        placed: dict[str, set[str]] = defaultdict(set)
        for person in (work / "sorted").iterdir():
            for file in person.rglob("*"):
                placed[file.name].add(person.name)
        return enrolling, seconds, cpu, placed


def timed(command: list) -> tuple[float, float, str]:
    """Run `command`: (wall seconds, CPU seconds of it and its descendants, stdout)."""
    started = time.monotonic()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    clock = CpuClock(proc.pid)
    out, err = proc.communicate()
    wall, cpu = time.monotonic() - started, clock.stop()
    if proc.returncode != 0:
        raise SystemExit(f"{command[0]} failed ({proc.returncode}): {err[-2000:]}")
    return wall, cpu, out


def _run(command: list) -> None:
    timed(command)


def run_cli(dump: Path, workers: int) -> tuple[float, float, dict[str, set[str]]]:
    with tempfile.TemporaryDirectory(prefix="facewatchd-phone-") as tmp:
        known = reference_cli.known_folder(
            {p.name: sorted(p.iterdir()) for p in (dump / "references").iterdir()}, Path(tmp) / "known")
        seconds, cpu, out = timed([BIN / "face_recognition", "--cpus", str(workers), "--tolerance", "0.6",
                                   known, dump / "jpeg"])
    placed: dict[str, set[str]] = defaultdict(set)
    for line in out.splitlines():
        path, _, name = line.rpartition(",")
        if name not in ("unknown_person", "no_persons_found"):
            placed[Path(path).name].add(name.split("__")[0])
    return seconds, cpu, placed


def accuracy(truth: dict, placed: dict[str, set[str]]) -> tuple[float, float, int]:
    enrolled = set(truth["enrolled"])
    right = wrong = found = wanted = 0
    for name, item in truth["files"].items():
        persons = set(item["persons"])
        got = placed.get(name, set())
        right += len(got & persons)
        wrong += len(got - persons)
        wanted += len(persons & enrolled)
        found += len(got & persons & enrolled)
    return right / max(1, right + wrong), found / max(1, wanted), wrong


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dump", type=Path, help="build the dump here and keep it (reused if there)")
    shared = ROOT.parent / "shared" / "data"
    p.add_argument("--people", type=Path, default=shared / "faces")
    p.add_argument("--backgrounds", type=Path, default=shared / "faces" / "no_faces")
    p.add_argument("--groups", type=Path, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--option", action="append", default=None, metavar="KEY=VALUE",
                   help="a [recognition] setting for one facewatchd row; '-' for the defaults")
    args = p.parse_args()
    rows = args.option or ["-", "fine_pass=always", "fine_pass=never"]
    with tempfile.TemporaryDirectory(prefix="facewatchd-phone-dump-") as tmp:
        dump = (args.dump or Path(tmp)).resolve()
        if not (dump / "truth.json").is_file():
            dump.mkdir(parents=True, exist_ok=True)
            print(f"building the phone dump in {dump} ...", flush=True)
            phone.build(args.people, args.backgrounds, dump, args.seed, groups_dir=args.groups)
        truth = json.loads((dump / "truth.json").read_text())
        n = len(truth["files"])
        print(f"{n} JPEGs of 12 MP, {len(truth['enrolled'])} people enrolled; {args.workers} workers")
        results = []
        for row in rows:
            options = [] if row == "-" else row.split(",")
            enrolling, seconds, cpu, placed = run_facewatchd(dump, args.workers, options)
            results.append((row if row != "-" else "defaults", seconds, cpu, placed))
            print(f"  {results[-1][0]}: {seconds:.1f} s, {cpu:.1f} CPU s", flush=True)
        cli_seconds, cli_cpu, cli_placed = run_cli(dump, args.workers)
        print(f"  CLI: {cli_seconds:.1f} s, {cli_cpu:.1f} CPU s")
        print(f"{'':28}{'files/s':>8}{'vs CLI':>8}{'CPU s/file':>11}{'vs CLI':>8}{'recall':>8}"
              f"{'precision':>10}{'wrong':>6}")
        for name, seconds, cpu, placed in results + [("CLI --tolerance 0.6", cli_seconds, cli_cpu, cli_placed)]:
            precision, recall, wrong = accuracy(truth, placed)
            label = name if name.startswith("CLI") else f"facewatchd {name}"
            print(f"{label:<28}{n / seconds:8.2f}{cli_seconds / seconds:7.2f}x{cpu / n:11.3f}"
                  f"{cli_cpu / cpu:7.2f}x{recall:8.3f}{precision:10.3f}{wrong:6d}")
        print("files/s is wall time (the external check's measure); CPU s/file counts the work of "
              "every process, which the load of other jobs on a shared machine disturbs far less.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
