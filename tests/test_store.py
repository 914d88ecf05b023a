from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from facewatchd import store as store_module
from facewatchd.errors import StoreError
from facewatchd.store import Store


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
    assert len(s.active_references()) == 0
    assert s.persons() == [{"name": "Anna", "references": 0, "disabled": 1}]
    assert s.reference_counts() == {}


def test_the_ledger_journals_a_move_and_finds_duplicates(s: Store) -> None:
    entry = s.begin_move(sha256="cd" * 32, size=10, source="/in/a.jpg", target="/out/a.jpg",
                         outcome="sorted", reason="matched", persons=["Anna"],
                         evidence={"faces": [{"box": [1, 2, 3, 4]}]})
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
                         outcome="review", reason="no_face", persons=[], evidence={})
    s.abandon_move(entry, "disk full")
    e = s.entry(entry)
    assert e.state == "abandoned" and e.evidence["abandoned"] == "disk full"
    assert s.sorted_before("ef" * 32) is None
