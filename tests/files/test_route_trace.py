"""The order in which a move across filesystems reaches the disk, watched at its system
calls: the two filesystems commit independently, so only the order of the fsyncs says
what a power cut can leave."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from facewatchd.files import route

from ..helpers import ROOT, need

MOVE = ("import sys; from pathlib import Path; from facewatchd.files import route;"
        " route.move(Path(sys.argv[1]), Path(sys.argv[2]), '7')")
# The calls that change what is on disk, and the paths they name (as the program named
# them or, for a descriptor, as strace -y resolves it).
DIR = r'(?:(?:AT_FDCWD|\d+)(?:<[^>]*>)?, )?'  # the folder a name is relative to, if any
CALLS = [
    (re.compile(r'\bf(?:data)?sync\(\d+<([^>]*)>\)'), "fsync"),
    (re.compile(rf'\brename(?:at2?)?\({DIR}"([^"]*)", {DIR}"([^"]*)"'), "rename"),
    (re.compile(rf'\bunlink(?:at)?\({DIR}"([^"]*)"'), "unlink"),
]


def traced_calls(trace: Path, paths: set[Path]) -> list[tuple[str, ...]]:
    """The fsyncs, renames and unlinks in an strace log that touch one of `paths`."""
    calls = []
    for line in trace.read_text().splitlines():
        if " = -1 " in line:
            continue  # failed (the first try, a rename across filesystems): changed nothing
        for pattern, what in CALLS:
            if (found := pattern.search(line)) and {Path(p) for p in found.groups()} & paths:
                calls.append((what, *found.groups()))
    return calls


def test_a_move_across_filesystems_lets_the_claim_go_only_once_the_target_is_on_disk(
        tmp_path: Path, other_fs: Path) -> None:
    need(shutil.which("strace") is not None, "strace is not installed")
    content = os.urandom(1 << 20)
    source = other_fs.resolve() / "in" / "a.jpg"  # a tmpfs...
    source.parent.mkdir()
    source.write_bytes(content)
    target = tmp_path.resolve() / "out" / "a.jpg"  # ...to the disk
    claim, temp = route.claim_path(source, "7"), route.temp_path(target, "7")
    trace = tmp_path / "trace.txt"
    run = subprocess.run(["strace", "-f", "-qq", "-y", "-s", "4096", "-o", str(trace),
                          "-e", "trace=/^(f(data)?sync|rename(at2?)?|unlink(at)?)$",
                          sys.executable, "-c", MOVE, str(source), str(target)],
                         capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    assert target.read_bytes() == content and not source.exists() and not claim.exists()
    calls = traced_calls(trace, {source, claim, temp, target, source.parent, target.parent})
    assert calls == [
        ("rename", str(source), str(claim)),
        ("fsync", str(source.parent)),  # claimed on disk before any copy can be
        ("fsync", str(temp)),  # the bytes...
        ("rename", str(temp), str(target)),  # ...then their name...
        ("fsync", str(target.parent)),  # ...on disk...
        ("unlink", str(claim)),  # ...and only then the source's claim goes...
        ("fsync", str(source.parent)),  # ...for good
    ], trace.read_text()
