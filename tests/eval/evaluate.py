"""Accuracy of facewatchd against the face_recognition CLI, on the same splits, in one run.

    .venv/bin/python tests/eval/evaluate.py [--data DIR] [--splits 5] [--refs 3]

Each split (a different random seed) enrols some of the people who have more than
`refs` photos with `refs` reference photos each, and holds the others out entirely as
strangers. Every other photo is a probe: the enrolled people's remaining photos,
the strangers' photos, the labelled group photos, the photo of an unknown person and
the photos with no face (unlabelled groups are left out: nobody knows who is in them).
Then, on the same files:

- facewatchd: `facewatchd --oneshot` on a real tree (references/, inbound/), reading
  where each file landed (a file under several people counts once for each);
- the CLI: `face_recognition --cpus 2 --tolerance 0.6 KNOWN UNKNOWN`, a file placed
  under every name it prints, as its output means.

recall = (photo, enrolled person in it) pairs filed under that person / all such pairs
precision = placements in a person's folder that are right / all placements
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
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))
from tests import reference_cli  # noqa: E402

IMAGES = (".jpg", ".jpeg", ".png")  # what the CLI reads; references are taken from these


@dataclass
class Score:
    right: int = 0
    wrong: int = 0
    found: int = 0
    wanted: int = 0
    seconds: float = 0.0
    mistakes: list[str] = field(default_factory=list)

    def add(self, name: str, truth: set[str], enrolled: set[str], placed: set[str]) -> None:
        self.right += len(placed & truth)
        self.wrong += len(placed - truth)
        self.mistakes += [f"{name} ({'/'.join(sorted(truth))}) → {p}" for p in sorted(placed - truth)]
        self.wanted += len(truth & enrolled)
        self.found += len(truth & enrolled & placed)

    def __iadd__(self, other: Score) -> Score:
        for key in ("right", "wrong", "found", "wanted", "seconds"):
            setattr(self, key, getattr(self, key) + getattr(other, key))
        self.mistakes += other.mistakes
        return self

    def row(self) -> str:
        placed = self.right + self.wrong
        precision = self.right / placed if placed else 1.0
        recall = self.found / self.wanted if self.wanted else 1.0
        return f"precision {precision:.3f} recall {recall:.3f} wrong {self.wrong:3d} {self.seconds:6.1f} s"


def manifest(data: Path) -> dict[str, set[str]]:
    """Each usable photo's path (relative to data) → who is in it (empty: nobody known)."""
    truth = {}
    with open(data / "manifest.csv", newline="") as f:
        for row in csv.DictReader(f):
            name = row["person_name"]
            if row["kind"] != "photo" or name == "unlabeled_group":
                continue
            truth[row["path"]] = set() if name in ("none", "unknown_person") else set(name.split(";"))
    return truth


def split(truth: dict[str, set[str]], refs: int, seed: int) -> tuple[dict[str, list[str]], list[str]]:
    """References per enrolled person, and the probes."""
    rng = random.Random(seed)
    photos: dict[str, list[str]] = defaultdict(list)
    for path, who in sorted(truth.items()):
        if path.startswith("people/") and path.lower().endswith(IMAGES):
            photos[next(iter(who))].append(path)
    candidates = sorted(p for p, ps in photos.items() if len(ps) > refs)
    rng.shuffle(candidates)
    enrolled = candidates[:round(len(candidates) * 0.7)]
    references = {p: rng.sample(photos[p], refs) for p in sorted(enrolled)}
    used = {path for paths in references.values() for path in paths}
    return references, [p for p in sorted(truth) if p not in used]


def probe_name(i: int, path: str) -> str:
    return f"p{i:04d}_{Path(path).name}"


def run_facewatchd(data: Path, work: Path, references: dict[str, list[str]],
                   probes: list[str]) -> tuple[dict[str, set[str]], float]:
    for person, paths in references.items():
        (work / "references" / person).mkdir(parents=True)
        for path in paths:
            shutil.copy2(data / path, work / "references" / person)
    for folder in ("inbound", "sorted"):
        (work / folder).mkdir()
    for i, path in enumerate(probes):
        shutil.copy2(data / path, work / "inbound" / probe_name(i, path))
    config = work / "facewatchd.toml"
    config.write_text('[daemon]\nstate_dir = "state"\nsocket = "state/s.sock"\nworkers = 2\n\n'
                      '[recognition]\nreferences = "references"\n\n[[watch]]\ninbound = "inbound"\n'
                      'destination = "sorted/{person}"\nreview = "review"\n')
    started = time.monotonic()
    subprocess.run([BIN / "facewatchd", "--oneshot", "--config", config, "--log", "stderr"],
                   check=True, capture_output=True)
    seconds = time.monotonic() - started
    placed: dict[str, set[str]] = defaultdict(set)
    for person_dir in (work / "sorted").iterdir():
        for file in person_dir.rglob("*"):
            placed[file.name].add(person_dir.name)
    return placed, seconds


def run_cli(data: Path, work: Path, references: dict[str, list[str]],
            probes: list[str]) -> tuple[dict[str, set[str]], float]:
    known = reference_cli.known_folder(
        {person: [data / p for p in paths] for person, paths in references.items()}, work / "known")
    (work / "unknown").mkdir()
    for i, path in enumerate(probes):
        shutil.copy2(data / path, work / "unknown" / probe_name(i, path))
    return reference_cli.run(known, work / "unknown")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "faces")
    p.add_argument("--splits", type=int, default=5)
    p.add_argument("--refs", type=int, default=3, help="reference photos per enrolled person")
    p.add_argument("--mistakes", action="store_true", help="list every wrong placement")
    args = p.parse_args()
    truth = manifest(args.data)
    totals = {"facewatchd": Score(), "CLI 0.6": Score()}
    print(f"{'split':<7}{'facewatchd':<50}{'face_recognition CLI, tolerance 0.6'}")
    for seed in range(args.splits):
        references, probes = split(truth, args.refs, seed)
        enrolled = set(references)
        scores = {}
        for side, run in (("facewatchd", run_facewatchd), ("CLI 0.6", run_cli)):
            with tempfile.TemporaryDirectory(prefix="facewatchd-eval-") as tmp:
                placed, seconds = run(args.data, Path(tmp), references, probes)
            score = Score(seconds=seconds)
            for i, path in enumerate(probes):
                score.add(path, truth[path], enrolled, placed.get(probe_name(i, path), set()))
            scores[side] = score
            totals[side] += score
        print(f"{seed:<7}{scores['facewatchd'].row():<50}{scores['CLI 0.6'].row()}   "
              f"({len(enrolled)} enrolled, {len(probes)} probes)")
    print(f"{'all':<7}{totals['facewatchd'].row():<50}{totals['CLI 0.6'].row()}")
    if args.mistakes:
        for side, score in totals.items():
            print(f"\n{side} wrong placements:")
            print("\n".join(f"  {m}" for m in score.mistakes) or "  none")
    return 0


if __name__ == "__main__":
    sys.exit(main())
