"""Accuracy on in-the-wild photos: facewatchd against the face_recognition CLI, held out.

    .venv/bin/python tests/eval/wild.py [--data DIR] [--splits 5] [--set KEY=VALUE ...]
    .venv/bin/python tests/eval/wild.py --stream [--splits 3] [--batch 50]

The protocol of the wild set's README: each split (a seed) enrols a seeded 70% of the
people with more than `refs` photos, with the first `refs` photos of each by name; their
other photos are probes, and so is every photo of the people held out (strangers).
Nothing here chooses a threshold: the defaults are what is measured (they were chosen
on other splits and other people by tests/eval/tune.py).

- facewatchd: `facewatchd --oneshot` on a real tree, with the defaults (or `--set
  recognition.KEY=VALUE` overrides), a file counted under every person folder it is in;
- the CLI: `face_recognition --cpus 2 --tolerance 0.6 --show-distance true`, a file placed
  under every name it prints; the same run read at tolerance 0.5 as a second column.

`--stream`: the same probes arrive over time, in a seeded shuffled order, `--batch` files
at a time, each batch sorted by `facewatchd --oneshot` with the state kept between
batches; run once with `auto_reference = false` and once with `true`. Reports precision
over the whole stream and recall of the first and second half of it: with automatic
references the later photos must be found more often, and precision must hold.

recall = (photo, enrolled person in it) pairs filed under that person / all such pairs
precision = placements in a person's folder that are right / all placements
A stranger's photo, or another face in a probe, placed under someone counts as wrong.
"""

from __future__ import annotations

import argparse
import csv
import random
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
from tests.eval.evaluate import Score  # noqa: E402


def people(data: Path) -> dict[str, list[str]]:
    """person -> photo paths (relative to data), sorted by name."""
    out: dict[str, list[str]] = defaultdict(list)
    with open(data / "manifest.csv", newline="") as f:
        for row in csv.DictReader(f):
            out[row["person"]].append(row["path"])
    return {p: sorted(paths) for p, paths in sorted(out.items())}


def split(photos: dict[str, list[str]], refs: int, seed: int,
          share: float = 0.7) -> tuple[dict[str, list[str]], dict[str, str | None]]:
    """References per enrolled person, and each probe's person (None: a stranger)."""
    rng = random.Random(seed)
    candidates = sorted(p for p, paths in photos.items() if len(paths) > refs)
    rng.shuffle(candidates)
    enrolled = sorted(candidates[:round(len(candidates) * share)])
    references = {p: photos[p][:refs] for p in enrolled}
    used = {path for paths in references.values() for path in paths}
    probes = {path: (p if p in references else None)
              for p, paths in photos.items() for path in paths if path not in used}
    return references, probes


def probe_name(i: int, path: str) -> str:
    return f"p{i:04d}_{Path(path).name}"


def config_text(overrides: list[str]) -> str:
    recognition = "".join(f"{key.split('.', 1)[1]} = {value}\n" for key, value in
                          (o.split("=", 1) for o in overrides) if key.startswith("recognition."))
    return ('[daemon]\nstate_dir = "state"\nsocket = "state/s.sock"\nworkers = 2\n\n'
            f'[recognition]\nreferences = "references"\n{recognition}\n'
            '[[watch]]\ninbound = "inbound"\ndestination = "sorted/{person}"\nreview = "review"\n')


def enrol_tree(data: Path, work: Path, references: dict[str, list[str]], overrides: list[str]) -> Path:
    for person, paths in references.items():
        (work / "references" / person).mkdir(parents=True)
        for path in paths:
            shutil.copy2(data / path, work / "references" / person)
    for folder in ("inbound", "sorted"):
        (work / folder).mkdir(exist_ok=True)
    config = work / "facewatchd.toml"
    config.write_text(config_text(overrides))
    return config


def oneshot(config: Path) -> float:
    started = time.monotonic()
    done = subprocess.run([BIN / "facewatchd", "--oneshot", "--config", config, "--log", "stderr"],
                          capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"facewatchd --oneshot failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return time.monotonic() - started


def placements(work: Path) -> dict[str, set[str]]:
    placed: dict[str, set[str]] = defaultdict(set)
    for person_dir in (work / "sorted").iterdir():
        for file in person_dir.rglob("*"):
            placed[file.name].add(person_dir.name)
    return placed


def run_facewatchd(data: Path, references: dict[str, list[str]], probes: list[str],
                   overrides: list[str]) -> tuple[dict[str, set[str]], float]:
    with tempfile.TemporaryDirectory(prefix="facewatchd-wild-") as tmp:
        work = Path(tmp)
        config = enrol_tree(data, work, references, overrides)
        for i, path in enumerate(probes):
            shutil.copy2(data / path, work / "inbound" / probe_name(i, path))
        seconds = oneshot(config)
        return placements(work), seconds


def run_cli(data: Path, references: dict[str, list[str]],
            probes: list[str]) -> tuple[dict[str, set[str]], dict[str, set[str]], float]:
    """Placements at tolerance 0.6 and at 0.5 (the same run, read with its distances)."""
    with tempfile.TemporaryDirectory(prefix="facewatchd-wild-cli-") as tmp:
        work = Path(tmp)
        known = reference_cli.known_folder(
            {person: [data / p for p in paths] for person, paths in references.items()}, work / "known")
        (work / "unknown").mkdir()
        for i, path in enumerate(probes):
            shutil.copy2(data / path, work / "unknown" / probe_name(i, path))
        started = time.monotonic()
        result = subprocess.run([BIN / "face_recognition", "--cpus", "2", "--tolerance", "0.6",
                                 "--show-distance", "true", known, work / "unknown"],
                                check=True, capture_output=True, text=True)
        seconds = time.monotonic() - started
    at6: dict[str, set[str]] = defaultdict(set)
    at5: dict[str, set[str]] = defaultdict(set)
    for line in result.stdout.splitlines():
        if line.startswith("WARNING") or line.count(",") < 2:
            continue  # "WARNING: No faces found in <a reference photo>. Ignoring file."
        path, name, distance = line.rsplit(",", 2)
        if name in ("unknown_person", "no_persons_found"):
            continue
        person = name.split("__")[0]
        at6[Path(path).name].add(person)
        if float(distance) <= 0.5:
            at5[Path(path).name].add(person)
    return at6, at5, seconds


def score(probes: dict[str, str | None], names: dict[str, str], enrolled: set[str],
          placed: dict[str, set[str]], seconds: float = 0.0) -> Score:
    result = Score(seconds=seconds)
    for path, person in probes.items():
        truth = {person} if person else set()
        result.add(path, truth, enrolled, placed.get(names[path], set()))
    return result


def spread(scores: list[Score]) -> str:
    """mean ± standard deviation of the per-split precision and recall."""
    import statistics
    p = [s.right / (s.right + s.wrong) if s.right + s.wrong else 1.0 for s in scores]
    r = [s.found / s.wanted for s in scores]
    def sd(x):
        return (statistics.pstdev(x) if len(x) > 1 else 0.0)
    return (f"precision {statistics.mean(p):.3f} ± {sd(p):.3f}  "
            f"recall {statistics.mean(r):.3f} ± {sd(r):.3f}")


def held_out(args: argparse.Namespace) -> None:
    photos = people(args.data)
    sides = ("facewatchd", "CLI 0.6", "CLI 0.5")
    per_split: dict[str, list[Score]] = {s: [] for s in sides}
    print(f"{'split':<6}" + "".join(f"{s:<48}" for s in sides))
    for seed in range(args.splits):
        references, probes = split(photos, args.refs, seed)
        order = sorted(probes)
        names = {path: probe_name(i, path) for i, path in enumerate(order)}
        enrolled = set(references)
        fw, fw_seconds = run_facewatchd(args.data, references, order, args.set)
        at6, at5, cli_seconds = run_cli(args.data, references, order)
        row = {"facewatchd": score(probes, names, enrolled, fw, fw_seconds),
               "CLI 0.6": score(probes, names, enrolled, at6, cli_seconds),
               "CLI 0.5": score(probes, names, enrolled, at5, cli_seconds)}
        for side in sides:
            per_split[side].append(row[side])
        print(f"{seed:<6}" + "".join(f"{row[s].row():<48}" for s in sides)
              + f"({len(enrolled)} enrolled, {len(order)} probes)", flush=True)
    print("mean ± sd over splits:")
    for side in sides:
        print(f"  {side:<11} {spread(per_split[side])}")


def stream(args: argparse.Namespace) -> None:
    photos = people(args.data)
    print("the same probes arriving over time, in batches of", args.batch)
    totals = {}
    for auto in ("false", "true"):
        halves = [[], []]
        whole = []
        for seed in range(args.splits):
            references, probes = split(photos, args.refs, seed)
            order = sorted(probes)
            random.Random(seed).shuffle(order)
            names = {path: probe_name(i, path) for i, path in enumerate(order)}
            with tempfile.TemporaryDirectory(prefix="facewatchd-stream-") as tmp:
                work = Path(tmp)
                config = enrol_tree(args.data, work, references,
                                    args.set + [f"recognition.auto_reference={auto}"])
                seconds = 0.0
                for start in range(0, len(order), args.batch):
                    for path in order[start:start + args.batch]:
                        shutil.copy2(args.data / path, work / "inbound" / names[path])
                    seconds += oneshot(config)
                placed = placements(work)
            enrolled = set(references)
            half = len(order) // 2
            for h, part in enumerate((order[:half], order[half:])):
                halves[h].append(score({p: probes[p] for p in part}, names, enrolled, placed))
            whole.append(score(probes, names, enrolled, placed, seconds))
            print(f"  auto_reference={auto:<5} split {seed}: {whole[-1].row()}  first half recall "
                  f"{halves[0][-1].found / halves[0][-1].wanted:.3f}, second half "
                  f"{halves[1][-1].found / halves[1][-1].wanted:.3f}", flush=True)
        totals[auto] = (whole, halves)
    for auto, (whole, halves) in totals.items():
        first = sum(s.found for s in halves[0]) / sum(s.wanted for s in halves[0])
        second = sum(s.found for s in halves[1]) / sum(s.wanted for s in halves[1])
        print(f"auto_reference={auto:<5} whole stream {spread(whole)};  recall first half "
              f"{first:.3f}, second half {second:.3f}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "wild")
    p.add_argument("--splits", type=int, default=5)
    p.add_argument("--refs", type=int, default=3, help="reference photos per enrolled person")
    p.add_argument("--set", action="append", default=[], metavar="recognition.KEY=VALUE",
                   help="a configuration override (TOML value), e.g. recognition.tolerance=0.6")
    p.add_argument("--stream", action="store_true", help="photos arriving over time, auto_reference off/on")
    p.add_argument("--batch", type=int, default=50, help="files per batch in --stream")
    args = p.parse_args()
    (stream if args.stream else held_out)(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
