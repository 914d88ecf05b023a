"""Phone-sized photos with small faces, built from a photo set; deterministic by seed.

    .venv/bin/python tests/bench/phone.py OUT [--people DIR] [--backgrounds DIR] [--seed 0]

A phone photo is 12 megapixels (4000x3000, landscape or portrait, JPEG quality 90)
and its faces are often small: people at a distance, groups. This builds such
photos from a folder of people (`people/<Name>/*.jpg` of the development set, or the
in-the-wild set's `<person>/*.jpg`) so that every face has a known owner:

- `upscaled`: a probe photo scaled up to 12 MP as it is (its faces keep their share of
  the picture: a face that was 5% of the side stays 5%);
- `distance`: 1 to 3 people, each a head-and-shoulders crop of a probe photo, pasted
  (with soft edges) onto a real background so the face is 2% to 7% of the long side
  (80 to 280 px at 4000; 32 to 112 px at the 1600 px the CLI works at);
- `group`: 3 to 6 such crops side by side, faces 2.5% to 5% of the side;
- `devgroup`: each photo of a `groups/` folder, if there is one, scaled up to 12 MP.

The first `refs` photos (by name) of an enrolled person are the references, copied
as they are; the rest of their photos, and every photo of the others (strangers),
are probes. Enrolled: a seeded 70% of the people with more than `refs` photos.
Crops come only from probe photos in which dlib's HOG detector (upsample 1, the
CLI's reach) finds exactly one face, so the owner of each pasted face is known.

Writes OUT/references/<person>/, OUT/jpeg/*.jpg and OUT/truth.json
({file: [persons in it]}, {"enrolled": [...]}, each face's box and share of the side).
Never commit OUT: the photos are not the project's.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
from pathlib import Path

import dlib
import numpy as np
from PIL import Image, ImageFilter, ImageOps

SIZE = (4000, 3000)  # 12 MP, the longer side first
QUALITY = 90
IMAGES = (".jpg", ".jpeg", ".png")


def people_of(folder: Path) -> dict[str, list[Path]]:
    """person -> photos, sorted by name. Accepts DIR/people/<Name>/ or DIR/<Name>/."""
    root = folder / "people" if (folder / "people").is_dir() else folder
    out = {}
    for person in sorted(p for p in root.iterdir() if p.is_dir()):
        photos = sorted(p for p in person.iterdir() if p.suffix.lower() in IMAGES)
        if photos:
            out[person.name] = photos
    return out


def upright(path: Path) -> Image.Image:
    with Image.open(path) as image:
        return ImageOps.exif_transpose(image).convert("RGB")


class OneFace:
    """The one face box (left, top, right, bottom) of a photo at the CLI's reach, or None."""

    def __init__(self) -> None:
        self.detector = dlib.get_frontal_face_detector()

    def __call__(self, image: Image.Image) -> tuple[int, int, int, int] | None:
        shrink = min(1.0, 1600 / max(image.size))
        small = image.convert("L")
        if shrink < 1:
            small = small.resize((round(image.width * shrink), round(image.height * shrink)))
        found = self.detector(np.asarray(small), 1)
        if len(found) != 1:
            return None
        r = found[0]
        return tuple(round(v / shrink) for v in (r.left(), r.top(), r.right(), r.bottom()))


def background(paths: list[Path], rng: random.Random, size: tuple[int, int]) -> Image.Image:
    """A real photo without faces, cropped to the aspect, scaled up, with sensor-like noise."""
    image = upright(rng.choice(paths))
    if rng.random() < 0.5:
        image = ImageOps.mirror(image)
    image = ImageOps.fit(image, size, Image.Resampling.BICUBIC)
    noise = np.random.default_rng(rng.randrange(2**32)).normal(0, 3.0, (size[1], size[0], 1))
    pixels = np.clip(np.asarray(image, np.float32) + noise, 0, 255).astype(np.uint8)
    return Image.fromarray(pixels)


def head_and_shoulders(image: Image.Image, box: tuple[int, int, int, int]) -> tuple[Image.Image, tuple]:
    """A crop around the face: 2.4 face widths wide, 3 face heights tall (more below the
    face than above, as a body is); the face box within the crop."""
    left, t, r, b = box
    w, h = r - left, b - t
    cl, ct = round(left - 0.7 * w), round(t - 0.8 * h)
    cr, cb = round(r + 0.7 * w), round(b + 1.2 * h)
    crop = image.crop((cl, ct, cr, cb))  # outside the photo: black, like a dark background
    return crop, (left - cl, t - ct, r - cl, b - ct)


def paste(canvas: Image.Image, crop: Image.Image, face: tuple, face_side: float,
          centre: tuple[float, float]) -> tuple[int, int, int, int]:
    """Paste `crop` scaled so its face box is `face_side` px wide, face centred at
    `centre`; soft edges so the crop's border is no strong edge. Returns the face box."""
    f = face_side / (face[2] - face[0])
    size = (max(1, round(crop.width * f)), max(1, round(crop.height * f)))
    scaled = crop.resize(size, Image.Resampling.LANCZOS if f < 1 else Image.Resampling.BICUBIC)
    feather = max(2, round(min(size) * 0.08))
    mask = Image.new("L", size, 0)
    mask.paste(255, (feather, feather, size[0] - feather, size[1] - feather))
    mask = mask.filter(ImageFilter.GaussianBlur(feather / 2))
    fx, fy = (face[0] + face[2]) / 2 * f, (face[1] + face[3]) / 2 * f
    x, y = round(centre[0] - fx), round(centre[1] - fy)
    canvas.paste(scaled, (x, y), mask)
    return (round(x + face[0] * f), round(y + face[1] * f), round(x + face[2] * f), round(y + face[3] * f))


def build(people_dir: Path, backgrounds: Path, out: Path, seed: int = 0, refs: int = 3,
          upscaled: int = 40, distance: int = 40, group: int = 20, groups_dir: Path | None = None) -> dict:
    rng = random.Random(seed)
    people = people_of(people_dir)
    candidates = sorted(p for p, photos in people.items() if len(photos) > refs)
    rng.shuffle(candidates)
    enrolled = set(candidates[:round(len(candidates) * 0.7)])
    for person in sorted(enrolled):
        (out / "references" / person).mkdir(parents=True, exist_ok=True)
        for photo in people[person][:refs]:
            shutil.copy2(photo, out / "references" / person / photo.name)
    probes = [(person, photo) for person, photos in people.items()
              for photo in (photos[refs:] if person in enrolled else photos)]
    rng.shuffle(probes)
    bgs = sorted(p for p in backgrounds.iterdir() if p.suffix.lower() in IMAGES)
    (out / "jpeg").mkdir(parents=True, exist_ok=True)
    truth: dict[str, dict] = {}
    one_face = OneFace()

    def save(name: str, image: Image.Image, persons: list[str], faces: list) -> None:
        image.save(out / "jpeg" / name, "JPEG", quality=QUALITY)
        side = max(image.size)
        truth[name] = {"persons": sorted(set(persons)),
                       "faces": [{"person": p, "box": list(b), "share": round((b[2] - b[0]) / side, 4)}
                                 for p, b in faces]}

    # Probe photos used as crops must show one face; found lazily, in the seeded order.
    cursor = iter(probes)
    seen_crops: list[tuple[str, Image.Image, tuple]] = []

    def next_crop() -> tuple[str, Image.Image, tuple]:
        for person, photo in cursor:
            image = upright(photo)
            box = one_face(image)
            if box is not None:
                crop, face = head_and_shoulders(image, box)
                return person, crop, face
        # Ran out: reuse one (rare with the default counts on the wild set).
        return rng.choice(seen_crops)

    for i, (person, photo) in enumerate(probes[:upscaled]):
        image = upright(photo)
        f = (SIZE[0] * SIZE[1] / (image.width * image.height)) ** 0.5
        image = image.resize((round(image.width * f), round(image.height * f)), Image.Resampling.BICUBIC)
        save(f"up{i:03d}_{person}_{photo.stem}.jpg", image, [person], [])
    cursor = iter(probes[upscaled:])
    for kind, count, per_photo, shares in (("dist", distance, (1, 3), (0.02, 0.07)),
                                           ("group", group, (3, 6), (0.025, 0.05))):
        for i in range(count):
            size = SIZE if rng.random() < 0.7 else SIZE[::-1]
            canvas = background(bgs, rng, size)
            n = rng.randint(*per_photo)
            persons, faces = [], []
            for k in range(n):
                person, crop, face = next_crop()
                seen_crops.append((person, crop, face))
                side = rng.uniform(*shares) * max(size)
                # Spread people left to right; a group stands closer together.
                x = size[0] * (k + 0.5 + rng.uniform(-0.25, 0.25)) / n
                y = size[1] * rng.uniform(0.3, 0.6)
                faces.append((person, paste(canvas, crop, face, side, (x, y))))
                persons.append(person)
            save(f"{kind}{i:03d}.jpg", canvas, persons, faces)
    if groups_dir is not None and groups_dir.is_dir():
        for photo in sorted(p for p in groups_dir.iterdir() if p.suffix.lower() in IMAGES):
            image = upright(photo)
            f = (SIZE[0] * SIZE[1] / (image.width * image.height)) ** 0.5
            image = image.resize((round(image.width * f), round(image.height * f)), Image.Resampling.BICUBIC)
            save(f"devgroup_{photo.stem}.jpg", image, [], [])
    meta = {"enrolled": sorted(enrolled), "seed": seed, "files": truth}
    (out / "truth.json").write_text(json.dumps(meta, indent=1))
    return meta


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path)
    shared = Path(__file__).resolve().parents[2].parent / "shared" / "data"
    p.add_argument("--people", type=Path, default=shared / "wild")
    p.add_argument("--backgrounds", type=Path, default=shared / "faces" / "no_faces")
    p.add_argument("--groups", type=Path, default=None, help="a folder of group photos to scale up too")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--upscaled", type=int, default=40)
    p.add_argument("--distance", type=int, default=40)
    p.add_argument("--group", type=int, default=20)
    args = p.parse_args()
    if args.out.exists() and any(args.out.iterdir()):
        sys.exit(f"{args.out} is not empty")
    meta = build(args.people, args.backgrounds, args.out, args.seed, upscaled=args.upscaled,
                 distance=args.distance, group=args.group, groups_dir=args.groups)
    print(f"{len(meta['files'])} photos in {args.out / 'jpeg'}, {len(meta['enrolled'])} people enrolled")
    return 0


if __name__ == "__main__":
    sys.exit(main())
