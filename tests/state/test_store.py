from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from facewatchd.errors import StoreError
from facewatchd.state import Record, Store
from facewatchd.state import schema as store_module
from facewatchd.vocabulary import Outcome, Reason

from ..helpers import ROOT, need, write_config


def test_a_new_database_is_migrated_to_the_current_schema_in_wal_mode(tmp_path: Path) -> None:
    with Store(tmp_path / "state") as s:
        assert s.db.execute("PRAGMA user_version").fetchone()[0] == len(store_module.MIGRATIONS)
        assert s.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    Store(tmp_path / "state").close()  # opening again migrates nothing


def test_one_state_folder_serves_one_facewatchd(tmp_path: Path) -> None:
    with Store(tmp_path):
        with pytest.raises(StoreError, match="another facewatchd"):
            Store(tmp_path)
    Store(tmp_path).close()  # free again


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    db = sqlite3.connect(tmp_path / "state" / store_module.DB_NAME)
    db.execute("PRAGMA user_version = 99")
    db.close()
    with pytest.raises(StoreError, match="newer"):
        Store(tmp_path / "state")


@pytest.fixture
def s(tmp_path: Path):
    with Store(tmp_path) as store:
        yield store


def test_reference_encodings_round_trip_exactly_as_floats(s: Store) -> None:
    encoding = np.random.default_rng(1).normal(size=128)
    ref = s.add_reference("Anna", "folder", "/refs/Anna/a.jpg", "ab" * 32, (1, 2, 3, 4), encoding)
    refs = s.active_references()
    assert refs.ids == (ref,) and refs.persons == ("Anna",)
    assert np.array_equal(refs.matrix[0], encoding)
    blob = s.db.execute("SELECT encoding FROM refs").fetchone()[0]
    assert len(blob) == 128 * 8  # plain float64, no pickle
    s.set_reference_active(ref, False)
    assert s.active_references().ids == ()
    assert s.persons() == [{"name": "Anna", "references": 0, "disabled": 1, "negatives": 0}]
    assert s.reference_counts() == {}


def test_the_ledger_journals_a_move_and_finds_duplicates(s: Store) -> None:
    entry = s.begin_move(sha256="cd" * 32, size=10, source="/in/a.jpg", target="/out/a.jpg",
                         record=Record(Outcome.SORTED, Reason.MATCHED, ["Anna"],
                                       {"faces": [{"box": [1, 2, 3, 4]}]}))
    assert [e.id for e in s.moves_under_way()] == [entry]
    assert s.sorted_before("cd" * 32) is None  # not done yet
    s.retarget(entry, "/out/a_1.jpg")
    s.finish_move(entry, ["/out/Bob/a_1.jpg"])
    assert s.moves_under_way() == []
    found = s.sorted_before("cd" * 32)
    assert found.target == "/out/a_1.jpg" and found.links == ["/out/Bob/a_1.jpg"]
    assert found.evidence == {"faces": [{"box": [1, 2, 3, 4]}]} and found.persons == ["Anna"]


def test_an_abandoned_move_keeps_its_note(s: Store) -> None:
    entry = s.begin_move(sha256="ef" * 32, size=1, source="/in/b.jpg", target="/out/b.jpg",
                         record=Record(Outcome.REVIEW, Reason.NO_FACE))
    s.abandon_move(entry, "disk full")
    e = s.entry(entry)
    assert e.state == "abandoned" and e.evidence["abandoned"] == "disk full"
    assert s.sorted_before("ef" * 32) is None


def test_each_move_is_in_the_ledger_on_disk_before_the_file_moves(tmp_path: Path, data: Path) -> None:
    """Watched at the system calls of a real run: after the last write of the journal
    before each rename of an inbound file, the journal is synced. A power cut can then
    never leave a moved file the ledger does not know."""
    need(shutil.which("strace") is not None, "strace is not installed")
    config = write_config(tmp_path)
    for photo in ("no_faces/cat.jpg", "people/Barack_Obama/obama2.jpg", "groups/lady.jpg"):
        shutil.copy2(data / photo, tmp_path / "inbound")
    trace = tmp_path / "trace.txt"
    subprocess.run(["strace", "-f", "-qq", "-y", "-o", str(trace), "-e",
                    "trace=pwrite64,fsync,fdatasync,renameat2",
                    sys.executable, "-m", "facewatchd", "--config", str(config), "--oneshot"],
                   check=True, capture_output=True, timeout=600, cwd=ROOT)
    wal = f"{store_module.DB_NAME}-wal>"
    moves, synced = 0, True
    for line in trace.read_text().splitlines():
        if "pwrite64(" in line and wal in line:
            synced = False  # a journal write, not yet on disk
        elif ("fsync(" in line or "fdatasync(" in line) and wal in line:
            synced = True
        elif "renameat2(" in line and "/inbound/" in line.split(",")[1]:
            moves += 1
            assert synced, f"a file moved before its journal row was on disk: {line}"
    assert moves == 3


def test_a_content_analysed_again_differently_keeps_only_its_latest_faces(tmp_path: Path) -> None:
    def faces(n: int, shift: int) -> list:
        return [((10 + shift, 60, 60, 10 + i * 60), 1.0, None, np.full(128, i + shift / 10))
                for i in range(n)]

    with Store(tmp_path / "state") as s:
        s.save_faces("abc", faces(3, 0), b"jpeg1", None)
        first = [f.id for f in s.faces_of(["abc"])["abc"]]
        s.ignore_faces(first[:1])
        s.save_faces("abc", faces(3, 0), b"jpeg1", None)  # the same found again: nothing changes
        assert [f.id for f in s.faces_of(["abc"])["abc"]] == first and s.ignored_faces() == {first[0]}
        # Other settings, other faces: all of them replace the earlier ones, none mixed in.
        s.save_faces("abc", faces(2, 5), b"jpeg2", None)
        again = s.faces_of(["abc"])["abc"]
        assert [(f.index, f.box[0]) for f in again] == [(0, 15), (1, 15)]
        assert [float(f.encoding[0]) for f in again] == [0.5, 1.5] and s.ignored_faces() == set()
        assert s.thumbnail("abc") == (b"jpeg2", None)
