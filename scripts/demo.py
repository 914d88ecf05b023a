"""Build a demo from a folder of test photos and sort it with facewatchd.

The first two photos of each person in DATA/people/ become that person's
references; everything else (more photos of them, groups, photos with no face,
videos, HEIC, the EXIF-rotated JPEG) is dropped into the inbound folder.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

REFERENCES_PER_PERSON = 2


def build(data: Path, out: Path) -> Path:
    if out.exists():
        shutil.rmtree(out)
    refs, inbound = out / "references", out / "inbound"
    for person in sorted(p for p in (data / "people").iterdir() if p.is_dir()):
        photos = sorted(p for p in person.iterdir() if p.is_file())
        for i, photo in enumerate(photos):
            folder = refs / person.name if i < REFERENCES_PER_PERSON else inbound / "people"
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copy2(photo, folder / (photo.name if i < REFERENCES_PER_PERSON
                                          else f"{person.name}-{photo.name}"))
    for section in ("groups", "no_faces", "video", "formats"):
        if (data / section).is_dir():
            shutil.copytree(data / section, inbound / section)
    (out / "sorted").mkdir()
    config = out / "facewatchd.toml"
    config.write_text(
        '[daemon]\nstate_dir = "state"\nsocket = "state/facewatchd.sock"\n\n'
        '[recognition]\nreferences = "references"\n\n'
        '[[watch]]\ninbound = "inbound"\ndestination = "sorted/{person}"\nreview = "review"\n')
    return config


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=Path("../shared/data/faces"))
    p.add_argument("--out", type=Path, default=Path("demo"))
    args = p.parse_args()
    if not (args.data / "people").is_dir():
        print(f"demo: {args.data} has no people/ folder; give DATA=path/to/photos", file=sys.stderr)
        return 1
    config = build(args.data.resolve(), args.out.resolve())
    print(f"demo: built {args.out}/ from {args.data}; sorting it now")
    status = subprocess.call([sys.executable, "-m", "facewatchd", "--config", str(config),
                              "--oneshot", "--quiet"])
    if status == 0:
        print(f"\nresults: {args.out}/sorted/<person>/ and {args.out}/review/; try:  "
              f"find {args.out}/sorted {args.out}/review -type f | sort")
    return status


if __name__ == "__main__":
    sys.exit(main())
