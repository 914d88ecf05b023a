"""Finding, as issue 27 counts it: facewatchd's engine against the CLI's pipeline, per face.

    .venv/bin/python tests/bench/finding.py DUMP [--option KEY=VALUE ...]

DUMP is a phone dump of tests/bench/phone.py (`phone_bench.py --dump DUMP` builds one):
references/PERSON/*.jpg, jpeg/*.jpg and truth.json. A (photo, enrolled person in it)
pair is found when one of the photo's faces has that person's references nearest,
within 0.6, whatever a policy would then decide: the detection and the encoding alone.

- facewatchd: `FaceEngine` (with the [recognition] settings given) on every file; each
  reference photo gives its largest face, as enrolment takes it;
- the CLI's pipeline: `face_recognition.load_image_file`, shrunk to 1600 px with Lanczos
  when larger, `face_encodings` (HOG, upsampled once), as `face_recognition` does; each
  reference photo gives its first face, as the CLI takes it.

Both run on 2 processes; prints each side's pairs found and the ones it missed.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from multiprocessing import Pool
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from tests.bench.phone_bench import _toml  # noqa: E402

Encodings = list[list[np.ndarray]]  # per file, its faces' encodings


def engine_faces(job: tuple[list[Path], list[str]]) -> Encodings:
    from facewatchd.engine.faces import FaceEngine

    paths, options = job
    engine = FaceEngine(**{k: json.loads(_toml(v)) for k, v in (o.split("=", 1) for o in options)})
    found = []
    for path in paths:
        faces = engine.analyse(path).faces
        if path.parent.parent.name == "references":
            faces = tuple(sorted(faces, key=lambda f: -f.side)[:1])
        found.append([f.encoding for f in faces])
    return found


def cli_faces(job: tuple[list[Path], list[str]]) -> Encodings:
    import face_recognition
    from PIL import Image

    found = []
    for path in job[0]:
        pixels = face_recognition.load_image_file(path)
        if max(pixels.shape) > 1600:
            image = Image.fromarray(pixels)
            image.thumbnail((1600, 1600), Image.Resampling.LANCZOS)
            pixels = np.array(image)
        encodings = list(face_recognition.face_encodings(pixels))
        found.append(encodings[:1] if path.parent.parent.name == "references" else encodings)
    return found


def finding(dump: Path, faces: Callable[[tuple[list[Path], list[str]]], Encodings],
            options: list[str]) -> tuple[int, int, list[tuple[str, str]]]:
    """Pairs found, pairs wanted, the pairs missed."""
    truth = {name: set(f["persons"]) for name, f in json.loads((dump / "truth.json").read_text())["files"].items()}
    people = sorted(p.name for p in (dump / "references").iterdir())
    refs = [(person, p) for person in people for p in sorted((dump / "references" / person).iterdir())]
    probes = sorted((dump / "jpeg").iterdir())
    paths = [p for _, p in refs] + probes
    with Pool(2) as pool:
        halves = pool.map(faces, [(paths[0::2], options), (paths[1::2], options)])
    of = {path: halves[i % 2][i // 2] for i, path in enumerate(paths)}
    names = np.array([person for person, path in refs for _ in of[path]])
    known = np.array([e for _, path in refs for e in of[path]])
    wanted = found = 0
    missed = []
    for probe in probes:
        persons = truth[probe.name] & set(people)
        nearest = set()
        for encoding in of[probe]:
            distances = np.linalg.norm(known - encoding, axis=1)
            if distances.min() <= 0.6:
                nearest.add(str(names[int(distances.argmin())]))
        wanted += len(persons)
        found += len(persons & nearest)
        missed += [(probe.name, person) for person in sorted(persons - nearest)]
    return found, wanted, missed


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("dump", type=Path)
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="a FaceEngine setting for facewatchd's side (fine_pass=always, say)")
    args = p.parse_args()
    for side, faces in (("facewatchd", engine_faces), ("CLI", cli_faces)):
        found, wanted, missed = finding(args.dump, faces, args.option)
        print(f"{side:<11} found {found} of {wanted} pairs ({found / max(1, wanted):.3f}); "
              f"missed: {', '.join(f'{photo} {person}' for photo, person in missed) or 'none'}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
