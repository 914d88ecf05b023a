"""The soak benchmark's accounting: after the stream, every file written is found once,
by its bytes, where the daemon says it is (tests/bench/soak.py).

Counted by content and inode: a photo filed under two people is one file with two
names (hard links on one filesystem, docs/guarantees.md), so an inode is counted once.
A file written twice on purpose (a real duplicate) is expected twice: once where the
first copy went and once in review/duplicates.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import stat
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

TEMPORARY = ".facewatchd-"  # the daemon's claims and half-made copies (files/route.py)


@dataclass
class Found:
    """Where the bytes of one inode are: its names, and the folder it counts under."""

    sha256: str
    names: list[Path]
    folder: str  # "inbound", "staging", "review", "duplicates", "failed", "trash", "sorted/NAME"


@dataclass
class Audit:
    found: dict[tuple[int, int], Found] = field(default_factory=dict)
    temporary: list[Path] = field(default_factory=list)  # claims and partial copies left
    lost: dict[str, int] = field(default_factory=dict)  # hash -> copies missing
    duplicated: dict[str, int] = field(default_factory=dict)  # hash -> copies too many
    by_folder: Counter[str] = field(default_factory=Counter)  # inodes per folder
    misfiled: list[str] = field(default_factory=list)  # a unique file in duplicates, a duplicate not
    ledger: list[str] = field(default_factory=list)  # where the ledger and the disk disagree
    ledger_rows: Counter[str] = field(default_factory=Counter)  # rows by state
    final_entries: int = 0

    @property
    def unsorted(self) -> list[Path]:
        """Files still in inbound (or not yet renamed into it): not sorted in the end."""
        return [item.names[0] for item in self.found.values() if item.folder in ("inbound", "staging")]

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicated or self.temporary or self.ledger or self.unsorted)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def folder_of(path: Path, root: Path) -> str:
    """The folder a file counts under: a person's destination, or review's parts."""
    parts = path.relative_to(root).parts
    if parts[0] == "sorted":
        return f"sorted/{parts[1]}"
    if parts[0] == "review" and len(parts) > 2 and parts[1] in ("duplicates", "failed", "trash"):
        return parts[1]
    return parts[0]


def walk(root: Path, folders: list[str]) -> Audit:
    """Every regular file under root's `folders`, an inode once (with all its names)."""
    audit = Audit()
    for name in folders:
        for dirpath, _, files in os.walk(root / name):
            for file in files:
                path = Path(dirpath) / file
                st = path.lstat()
                if not stat.S_ISREG(st.st_mode):
                    continue
                if TEMPORARY in file:
                    audit.temporary.append(path)
                    continue
                key = (st.st_dev, st.st_ino)
                if key in audit.found:
                    audit.found[key].names.append(path)
                else:
                    audit.found[key] = Found(sha256(path), [path], folder_of(path, root))
    for item in audit.found.values():
        audit.by_folder[item.folder] += 1
    return audit


def audit(root: Path, written: Counter[str], duplicates: set[str]) -> Audit:
    """Compare what is on disk (and in the ledger) with `written` (hash -> copies
    written); `duplicates`: the hashes written a second time on purpose."""
    result = walk(root, ["inbound", "staging", "sorted", "review"])
    found: Counter[str] = Counter(item.sha256 for item in result.found.values())
    result.lost = {h: n - found[h] for h, n in written.items() if found[h] < n}
    result.duplicated = {h: n - written[h] for h, n in found.items() if n > written[h]}
    for item in result.found.values():
        if item.folder == "duplicates" and item.sha256 not in duplicates:
            result.misfiled.append(f"{item.names[0]}: written once, filed as a duplicate")
    in_duplicates = Counter(i.sha256 for i in result.found.values() if i.folder == "duplicates")
    result.misfiled += [f"{h[:12]}: written twice, not in review/duplicates"
                        for h in duplicates if not in_duplicates[h]]
    check_ledger(root, result, written)
    return result


def check_ledger(root: Path, result: Audit, written: Counter[str]) -> None:
    """The ledger's final rows (done, not replaced by a later move) name every file on
    disk once, with its bytes; nothing is left 'moving'."""
    db = sqlite3.connect(f"file:{root / 'state' / 'facewatchd.db'}?mode=ro", uri=True)
    db.row_factory = sqlite3.Row
    try:
        result.ledger_rows = Counter(dict(db.execute("SELECT state, count(*) FROM files GROUP BY state")))
        rows = db.execute("SELECT * FROM files WHERE state = 'done' AND next_id IS NULL").fetchall()
    finally:
        db.close()
    if result.ledger_rows["moving"]:
        result.ledger.append(f"{result.ledger_rows['moving']} rows still 'moving'")
    result.final_entries = len(rows)
    names = {name: item for item in result.found.values() for name in item.names}
    named: set[Path] = set()
    per_hash: Counter[str] = Counter()
    for row in rows:
        per_hash[row["sha256"]] += 1
        if row["target"] is None:
            continue
        for name in [os.fsdecode(row["target"]), *json.loads(row["links"])]:
            path = Path(name)
            if path in named:
                result.ledger.append(f"{path} is named by two final rows")
            named.add(path)
            if path not in names:
                result.ledger.append(f"row {row['id']}: {path} is not on disk")
            elif names[path].sha256 != row["sha256"]:
                result.ledger.append(f"row {row['id']}: {path} holds other bytes")
    outside = {p for p, item in names.items() if item.folder not in ("inbound", "staging")}
    result.ledger += [f"{p} is on disk, in no final row" for p in sorted(outside - named)]
    result.ledger += [f"{h[:12]}: {per_hash[h]} final rows for {n} files written"
                      for h, n in written.items() if per_hash[h] != n]


def placements(root: Path, result: Audit, source_of: dict[str, str]) -> dict[str, Counter[str]]:
    """For the real photos: source photo -> how many of its copies went to each set of
    folders (a photo of two people: 'sorted/A + sorted/B', one inode with two names)."""
    where: dict[str, Counter[str]] = defaultdict(Counter)
    for item in result.found.values():
        if (source := source_of.get(item.sha256)) is not None:
            where[source][" + ".join(sorted({folder_of(n, root) for n in item.names}))] += 1
    return where
