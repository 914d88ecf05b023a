"""What the re-check of the review queue at start costs, on a state folder kept by soak.py.

    .venv/bin/python tests/bench/soak.py --dir /tmp/soak     # leaves its tree there
    .venv/bin/python tests/bench/recheck_memory.py /tmp/soak

At every start (and change of the references) the daemon re-checks the whole review
queue before READY (service/refresh.py, files/upkeep.py's recheck): it reads every
item's ledger row and decides each against the references. This does the same two
steps, read-only (no file is moved, nothing is written), in a process of its own, and
prints their time and how much resident memory the process keeps after the rows are
dropped: what a daemon holds from that start on. Run it with the daemon stopped.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from facewatchd.config.load import load  # noqa: E402
from facewatchd.files.review import ReviewQueue  # noqa: E402
from facewatchd.files.sorter import Sorter  # noqa: E402
from facewatchd.state import Store  # noqa: E402
from tests.bench.bench import _status_kb  # noqa: E402


def rss_mb() -> float:
    return _status_kb(os.getpid(), "VmRSS") / 1024


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("tree", type=Path, help="a folder soak.py --dir left (facewatchd.toml, state/)")
    args = p.parse_args()
    config = load(args.tree / "facewatchd.toml")
    store = Store(config.daemon.state_dir)
    queue = ReviewQueue(Sorter(config, store))
    before, started = rss_mb(), time.perf_counter()
    entries = queue.entries()
    read, with_rows = time.perf_counter(), rss_mb()
    items = sum(1 for _ in queue.iter_items(entries))
    decided = time.perf_counter()
    del entries
    after = rss_mb()
    print(f"{items} review items: rows read in {read - started:.2f} s (RSS +{with_rows - before:.1f} MB), "
          f"decided in {decided - read:.2f} s; RSS {before:.1f} MB before, {after:.1f} MB after the rows "
          f"are dropped: {(after - before) * 1024 / max(items, 1):.2f} KB an item kept")
    store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
