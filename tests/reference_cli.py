"""The face_recognition command-line tool, run the way the evaluation and the benchmark
compare against it: one name per reference file (`PERSON__N.jpg`), every name it prints
for a file counted as a placement in that person's folder."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

BIN = Path(sys.executable).parent


def known_folder(references: dict[str, list[Path]], folder: Path) -> Path:
    """Copy each person's reference photos into `folder` under names the CLI reads."""
    folder.mkdir()
    for person, photos in references.items():
        for n, photo in enumerate(photos):
            shutil.copy2(photo, folder / f"{person}__{n}{photo.suffix}")
    return folder


def run(known: Path, unknown: Path, cpus: int = 2,
        tolerance: float = 0.6) -> tuple[dict[str, set[str]], float]:
    """File name → the persons the CLI names for it, and the seconds it took."""
    started = time.monotonic()
    result = subprocess.run([BIN / "face_recognition", "--cpus", str(cpus), "--tolerance",
                             str(tolerance), known, unknown], check=True, capture_output=True, text=True)
    seconds = time.monotonic() - started
    placed: dict[str, set[str]] = defaultdict(set)
    for line in result.stdout.splitlines():
        path, _, name = line.rpartition(",")
        if name not in ("unknown_person", "no_persons_found"):
            placed[Path(path).name].add(name.split("__")[0])
    return placed, seconds
