"""Build a demo from a folder of test photos and let the facewatchd daemon sort it.

The first two photos of each person in DATA/people/ become that person's references;
everything else (more photos of them, groups, photos with no face, videos, HEIC, the
EXIF-rotated JPEG) is dropped into the inbound folder, except one photo kept back to
be dropped in while the daemon watches.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from facewatchd.control.client import Client
from facewatchd.control.ctl import write_sheet
from facewatchd.control.show import format_clusters, format_items, format_status, format_why
from facewatchd.errors import FacewatchError

REFERENCES_PER_PERSON = 2


def build(data: Path, out: Path) -> tuple[Path, Path]:
    if out.exists():
        if not (out / "facewatchd.toml").is_file():
            raise SystemExit(f"demo: {out} exists and is no demo of ours; leaving it alone "
                             f"(make demo OUT=another/folder)")
        print(f"demo: replacing the demo made before in {out} (its photos, sorted and not, "
              f"and its state)")
        shutil.rmtree(out)
    refs, inbound, later = out / "references", out / "inbound", out / "later"
    for folder in (refs, inbound / "people", later, out / "sorted"):
        folder.mkdir(parents=True)
    for person in sorted(p for p in (data / "people").iterdir() if p.is_dir()):
        for i, photo in enumerate(sorted(p for p in person.iterdir() if p.is_file())):
            if i < REFERENCES_PER_PERSON:
                (refs / person.name).mkdir(exist_ok=True)
                shutil.copy2(photo, refs / person.name / photo.name)
            else:
                shutil.copy2(photo, inbound / "people" / f"{person.name}-{photo.name}")
    kept = sorted((inbound / "people").iterdir())[0]
    shutil.move(kept, later / kept.name)
    for section in ("groups", "no_faces", "video", "formats"):
        if (data / section).is_dir():
            shutil.copytree(data / section, inbound / section)
    config = out / "facewatchd.toml"
    config.write_text(
        '[daemon]\nstate_dir = "state"\nsocket = "state/facewatchd.sock"\nsettle = 1.0\n\n'
        '[recognition]\nreferences = "references"\n\n'
        '[[watch]]\ninbound = "inbound"\ndestination = "sorted/{person}"\nreview = "review"\n\n'
        '[xmp]\nwrite = true\n')  # the names found, for photo tools: shown at the end
    return config, later / kept.name


def wait_idle(client: Client, at_least: int) -> dict:
    tty = sys.stdout.isatty()
    while True:
        status = client.call("status", {})
        if tty:
            print(f"\r  sorted {status['processed']}, waiting {status['queued'] + status['settling']}, "
                  f"in flight {status['in_flight']}   ", end="", flush=True)
        if (status["processed"] >= at_least and not status["in_flight"] and not status["queued"]
                and not status["settling"] and not status["scanning"]):
            if tty:
                print()
            return status
        time.sleep(0.5)


def connect(socket: Path, daemon: subprocess.Popen) -> Client:
    while True:
        if daemon.poll() is not None:
            raise SystemExit(f"demo: facewatchd exited with status {daemon.returncode}")
        try:
            return Client(socket)
        except FacewatchError:
            time.sleep(0.2)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=Path("../shared/data/faces"))
    p.add_argument("--out", type=Path, default=Path("demo"))
    args = p.parse_args()
    if not (args.data / "people").is_dir():
        print(f"demo: {args.data} has no people/ folder; give DATA=path/to/photos", file=sys.stderr)
        return 1
    out = args.out.resolve()
    config, later = build(args.data.resolve(), out)
    files = sum(1 for f in (out / "inbound").rglob("*") if f.is_file())
    print(f"demo: {args.out}/references/ holds the known people; {files} files wait in "
          f"{args.out}/inbound/. Starting facewatchd (log: {args.out}/daemon.log)")
    with open(out / "daemon.log", "wb") as log:
        daemon = subprocess.Popen([sys.executable, "-m", "facewatchd", "--config", str(config),
                                   "--log", "stderr"], stderr=log)
    try:
        client = connect(out / "state" / "facewatchd.sock", daemon)
        status = wait_idle(client, files)
        print(format_status(status))
        print(f"\ndemo: dropping {later.name} into {args.out}/inbound/ while it watches")
        shutil.move(later, out / "inbound" / later.name)
        wait_idle(client, status["processed"] + 1)
        placed = next((out / "sorted").rglob(later.name), None) or next((out / "review").rglob(later.name))
        print(format_why(client.call("why", {"path": str(placed)})))
        if (sidecar := next((out / "sorted").rglob("*.xmp"), None)) is not None:
            regions = subprocess.run(["exiftool", "-s", "-RegionName", "-RegionType", "-PersonInImage",
                                      str(sidecar)], capture_output=True, text=True).stdout
            print(f"\ndemo: who is in it, for photo tools ([xmp] write), in {sidecar}:\n{regions}")
        items = client.call_all_pages("review.list", {})
        print(f"\ndemo: the review queue ({len(items)} items; first 10):")
        print(format_items(items[:10]))
        print("\ndemo: unknown faces that look like one person (facewatchctl clusters):")
        print(format_clusters(client.call_all_pages("clusters", {})))
        sheet = write_sheet(client, {}, argparse.Namespace(out=out / "review.html"))
        print(f"\ndemo: contact sheet of the queue: {sheet['file']} (open it in a browser)")
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait()
    print(f"\ndemo: stopped. Results in {args.out}/sorted/<person>/ and {args.out}/review/:\n"
          f"  find {args.out}/sorted {args.out}/review -type f | sort\n"
          f"The commands are in .venv/bin/ (or: source .venv/bin/activate). Run it again, watching:\n"
          f"  .venv/bin/facewatchd --config {args.out}/facewatchd.toml\n"
          f"and ask it, from another terminal:\n"
          f"  .venv/bin/facewatchctl --config {args.out}/facewatchd.toml status")
    return 0


if __name__ == "__main__":
    sys.exit(main())
