"""What the ledger's durability costs per file: journaled moves with the journal synced
at every commit (synchronous = FULL, what facewatchd uses) against NORMAL, side by side.

    .venv/bin/python tests/bench/ledger.py [--files 300] [--dir DIR]

Each move is what sorting a file writes: a 'moving' row, the rename, the 'done' row.
DIR (default: a temporary folder) should be on the disk that holds the state folder
and the photos, since the cost is that disk's fsync.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from facewatchd.files import route  # noqa: E402
from facewatchd.files.journal import Journal  # noqa: E402
from facewatchd.state import Record, Store  # noqa: E402
from facewatchd.vocabulary import Outcome, Reason  # noqa: E402


def moves(folder: Path, synchronous: str, count: int) -> float:
    """Seconds per journaled move of `count` small files with the given synchronous mode."""
    inbound, sorted_ = folder / "inbound", folder / "sorted"
    inbound.mkdir()
    sorted_.mkdir()
    for i in range(count):
        (inbound / f"{i}.jpg").write_bytes(b"photo %d" % i)
    with Store(folder / "state") as store:
        store.db.execute(f"PRAGMA synchronous = {synchronous}")
        journal = Journal(store)
        started = time.perf_counter()
        for i in range(count):
            source = inbound / f"{i}.jpg"
            signature, digest = route.identify(source)
            journal.move(source, sorted_, Record(Outcome.SORTED, Reason.MATCHED, ["Anna"]),
                         signature=signature, sha256=digest, size=signature.size)
        return (time.perf_counter() - started) / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=300)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    results = {}
    for mode in ("NORMAL", "FULL", "NORMAL", "FULL"):  # interleaved: a noisy disk hits both
        with tempfile.TemporaryDirectory(dir=args.dir) as folder:
            results.setdefault(mode, []).append(moves(Path(folder), mode, args.files))
    normal, full = min(results["NORMAL"]), min(results["FULL"])
    print(f"journaled moves of {args.files} files, best of 2 runs each:")
    print(f"  synchronous = NORMAL  {normal * 1000:7.2f} ms a file")
    print(f"  synchronous = FULL    {full * 1000:7.2f} ms a file  (+{(full - normal) * 1000:.2f} ms)")


if __name__ == "__main__":
    main()
