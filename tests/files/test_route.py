from __future__ import annotations

import errno
import hashlib
import os
from pathlib import Path

import pytest

from facewatchd.engine.report import Signature
from facewatchd.errors import RouteError
from facewatchd.files import route

from ..helpers import sha256


def make(path: Path, content: bytes = b"photo bytes") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def test_free_target_adds_a_suffix_and_respects_name_max(tmp_path: Path) -> None:
    assert route.free_target(tmp_path, "a.jpg") == tmp_path / "a.jpg"
    make(tmp_path / "a.jpg")
    make(tmp_path / "a_1.jpg")
    assert route.free_target(tmp_path, "a.jpg") == tmp_path / "a_2.jpg"
    long = "x" * 251 + ".jpg"
    make(tmp_path / long)
    name = route.free_target(tmp_path, long).name
    assert len(name.encode()) <= 255 and name.endswith("_1.jpg")
    make(tmp_path / ".hidden")
    assert route.free_target(tmp_path, ".hidden").name == ".hidden_1"


def test_move_on_one_filesystem(tmp_path: Path) -> None:
    src = make(tmp_path / "in" / "a.jpg")
    route.move(src, tmp_path / "out" / "a.jpg", "1", Signature.of(src.stat()))
    assert not src.exists() and (tmp_path / "out" / "a.jpg").read_bytes() == b"photo bytes"


def test_move_never_overwrites(tmp_path: Path) -> None:
    src = make(tmp_path / "in" / "a.jpg", b"new")
    existing = make(tmp_path / "out" / "a.jpg", b"old")
    with pytest.raises(FileExistsError):
        route.move(src, existing, "1")
    assert src.read_bytes() == b"new" and existing.read_bytes() == b"old"


def test_move_refuses_a_file_changed_since_analysis(tmp_path: Path) -> None:
    src = make(tmp_path / "in" / "a.jpg")
    seen = Signature.of(src.stat())
    src.write_bytes(b"photo bytes, and more written later")
    with pytest.raises(RouteError, match="changed"):
        route.move(src, tmp_path / "out" / "a.jpg", "1", seen)
    assert src.exists()


def test_move_across_filesystems_is_a_durable_copy(tmp_path: Path, other_fs: Path) -> None:
    content = os.urandom(3 << 20)
    src = make(tmp_path / "in" / "a.jpg", content)
    os.utime(src, (1_600_000_000, 1_600_000_000))
    target = other_fs / "out" / "a.jpg"
    route.move(src, target, "7", Signature.of(src.stat()))
    assert not src.exists()
    assert target.read_bytes() == content
    assert target.stat().st_mtime == 1_600_000_000  # photo tools date files by mtime
    assert [p.name for p in target.parent.iterdir()] == ["a.jpg"]  # no temp left


def test_move_across_filesystems_never_overwrites(tmp_path: Path, other_fs: Path) -> None:
    src = make(tmp_path / "in" / "a.jpg", b"new")
    existing = make(other_fs / "a.jpg", b"old")
    with pytest.raises(FileExistsError):
        route.move(src, existing, "7")
    assert src.read_bytes() == b"new" and existing.read_bytes() == b"old"
    assert sorted(p.name for p in other_fs.iterdir()) == ["a.jpg"]


def test_link_or_copy_links_on_one_filesystem_and_copies_across(tmp_path: Path, other_fs: Path) -> None:
    original = make(tmp_path / "Anna" / "a.jpg")
    route.link_or_copy(original, tmp_path / "Bob" / "a.jpg", "1")
    assert (tmp_path / "Bob" / "a.jpg").stat().st_ino == original.stat().st_ino
    route.link_or_copy(original, other_fs / "Carl" / "a.jpg", "2")
    assert (other_fs / "Carl" / "a.jpg").read_bytes() == original.read_bytes()


class TestRecover:
    def test_a_move_that_never_happened_is_rolled_back(self, tmp_path: Path) -> None:
        src = make(tmp_path / "in" / "a.jpg")
        make(route.temp_path(tmp_path / "out" / "a.jpg", "3"), b"half a cop")
        assert route.recover(src, tmp_path / "out" / "a.jpg", "3", sha256(src)) is False
        assert src.exists()
        assert list((tmp_path / "out").iterdir()) == []  # the half copy is gone

    def test_a_finished_rename_is_kept(self, tmp_path: Path) -> None:
        target = make(tmp_path / "out" / "a.jpg")
        assert route.recover(tmp_path / "in" / "a.jpg", target, "3", sha256(target)) is True
        assert target.exists()

    def test_a_copy_in_place_lets_the_claim_go(self, tmp_path: Path) -> None:
        claim = make(route.claim_path(tmp_path / "in" / "a.jpg", "3"))
        target = make(tmp_path / "out" / "a.jpg")
        assert route.recover(tmp_path / "in" / "a.jpg", target, "3", sha256(claim)) is True
        assert not claim.exists() and target.exists()

    def test_a_file_at_the_source_name_is_never_deleted(self, tmp_path: Path) -> None:
        # Once claimed, the source's name may hold someone else's file, even a copy.
        src = make(tmp_path / "in" / "a.jpg")
        target = make(tmp_path / "out" / "a.jpg")
        assert route.recover(src, target, "3", sha256(src)) is True
        assert src.exists() and target.exists()

    def test_a_claim_whose_copy_never_finished_goes_back(self, tmp_path: Path) -> None:
        src = tmp_path / "in" / "a.jpg"
        claim = make(route.claim_path(src, "3"), b"ours")
        make(route.temp_path(tmp_path / "out" / "a.jpg", "3"), b"ou")
        assert route.recover(src, tmp_path / "out" / "a.jpg", "3", sha256(claim)) is False
        assert src.read_bytes() == b"ours" and sorted(p.name for p in src.parent.iterdir()) == ["a.jpg"]
        assert list((tmp_path / "out").iterdir()) == []

    def test_a_claim_goes_back_beside_a_newcomer_with_its_name(self, tmp_path: Path) -> None:
        src = make(tmp_path / "in" / "a.jpg", b"newcomer")
        claim = make(route.claim_path(src, "3"), b"ours")
        assert route.recover(src, tmp_path / "out" / "a.jpg", "3", sha256(claim)) is False
        assert src.read_bytes() == b"newcomer" and (tmp_path / "in" / "a_1.jpg").read_bytes() == b"ours"

    def test_someone_elses_file_at_the_target_is_not_ours(self, tmp_path: Path) -> None:
        src = make(tmp_path / "in" / "a.jpg", b"ours")
        target = make(tmp_path / "out" / "a.jpg", b"theirs")
        assert route.recover(src, target, "3", sha256(src)) is False
        assert src.read_bytes() == b"ours" and target.read_bytes() == b"theirs"


OURS, THEIRS = b"the photo being moved", b"someone else's photo"
# Where a move of in/a.jpg to out/a.jpg (tag "3") may leave things, as names in tmp_path.
PLACES = {"source": "in/a.jpg", "claim": "in/.facewatchd-3.claim", "temp": "out/.facewatchd-3.tmp",
          "target": "out/a.jpg", "beside the source": "in/a_1.jpg", "beside the target": "out/a_1.jpg"}
# Each state a crash can leave a move in (the files there, by place), whether recover()
# then says it is finished, and where the file being moved is after it. Also states only
# an older order of the steps, another program or a lost rename could leave.
STATES: dict[str, tuple[dict[str, bytes], bool, str | None]] = {
    "nothing done yet": ({"source": OURS}, False, "source"),
    "claimed": ({"claim": OURS}, False, "source"),
    "claimed, half copied": ({"claim": OURS, "temp": OURS[:5]}, False, "source"),
    "claimed, copied": ({"claim": OURS, "temp": OURS}, False, "source"),
    "claimed, renamed into place": ({"claim": OURS, "target": OURS}, True, "target"),
    "done": ({"target": OURS}, True, "target"),
    # A power cut after the claim's unlink reached the disk, before the target's rename did:
    # the copy is the only one left.
    "claim gone, copy not in place": ({"temp": OURS}, True, "target"),
    "claim gone, copy not in place, another file at the source":
        ({"temp": OURS, "source": THEIRS}, True, "target"),
    "claim gone, copy not in place, another file at the target":
        ({"temp": OURS, "target": THEIRS}, False, "beside the target"),
    # The claim's rename lost: the source is whole, a copy is a spare.
    "claim lost, copied": ({"source": OURS, "temp": OURS}, False, "source"),
    "claim lost, half copied": ({"source": OURS, "temp": OURS[:5]}, False, "source"),
    "claimed, another file at the target": ({"claim": OURS, "target": THEIRS}, False, "source"),
    "claimed, another file at the source": ({"claim": OURS, "source": THEIRS}, False, "beside the source"),
    "claimed, another file at the source, renamed into place":
        ({"claim": OURS, "source": THEIRS, "target": OURS}, True, "target"),
    "nothing at all": ({}, False, None),
}


def files_in(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("state", STATES)
def test_recover_from_each_state_leaves_exactly_one_copy(tmp_path: Path, state: str) -> None:
    present, finished, where = STATES[state]
    for place, content in present.items():
        make(tmp_path / PLACES[place], content)
    (tmp_path / "in").mkdir(exist_ok=True)
    (tmp_path / "out").mkdir(exist_ok=True)
    after = {PLACES[place]: THEIRS for place, content in present.items() if content == THEIRS}
    if where is not None:
        after[PLACES[where]] = OURS
    digest = hashlib.sha256(OURS).hexdigest()
    for again in (False, True):  # a crash during recovery: it is run once more
        assert route.recover(tmp_path / "in" / "a.jpg", tmp_path / "out" / "a.jpg", "3", digest) is finished, again
        assert files_in(tmp_path) == after, again


def test_a_file_renamed_onto_the_source_during_a_copy_is_left_alone(tmp_path: Path, other_fs: Path) -> None:
    content = os.urandom(3 << 20)
    src = make(tmp_path / "in" / "a.jpg", content)
    newcomer = make(tmp_path / "staged.jpg", b"someone else's photo")
    swapped: list[bool] = []

    def swap() -> None:  # called between the chunks of the copy
        if not swapped:
            os.rename(newcomer, src)
            swapped.append(True)

    route.move(src, other_fs / "a.jpg", "9", Signature.of(src.stat()), progress=swap)
    assert swapped and (other_fs / "a.jpg").read_bytes() == content
    assert src.read_bytes() == b"someone else's photo"  # renamed onto the source name: kept
    assert sorted(p.name for p in src.parent.iterdir()) == ["a.jpg"]  # no claim left


def test_a_file_swapped_in_before_the_rename_is_put_back(tmp_path: Path) -> None:
    src = make(tmp_path / "in" / "a.jpg", b"analysed")
    seen = Signature.of(src.stat())
    src.unlink()
    make(src, b"another file, same name")
    with pytest.raises(RouteError, match="changed"):
        route.move(src, tmp_path / "out" / "a.jpg", "1", seen)
    assert src.read_bytes() == b"another file, same name" and not (tmp_path / "out" / "a.jpg").exists()


def no_links(*_: object) -> None:
    raise PermissionError(errno.EPERM, "Operation not permitted")  # as on FAT


def test_without_noreplace_or_links_an_existing_name_is_still_never_replaced(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(route, "_renameat2", None)
    monkeypatch.setattr(os, "link", no_links)
    src = make(tmp_path / "in" / "a.jpg", b"new")
    existing = make(tmp_path / "out" / "a.jpg", b"old")
    with pytest.raises(FileExistsError):
        route.rename_noreplace(src, existing)
    assert existing.read_bytes() == b"old" and src.read_bytes() == b"new"
    route.rename_noreplace(src, tmp_path / "out" / "b.jpg")
    assert (tmp_path / "out" / "b.jpg").read_bytes() == b"new" and not src.exists()


def test_without_noreplace_a_file_renamed_onto_the_source_after_the_link_is_kept(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = make(tmp_path / "in" / "a.jpg", OURS)
    newcomer = make(tmp_path / "staged.jpg", THEIRS)
    link = os.link

    def link_then_swap(existing: Path, new: Path) -> None:
        link(existing, new)
        os.rename(newcomer, src)  # another program, between the link and the unlink

    monkeypatch.setattr(route, "_renameat2", None)  # as on NFS
    monkeypatch.setattr(os, "link", link_then_swap)
    route.move(src, tmp_path / "out" / "a.jpg", "1")
    assert (tmp_path / "out" / "a.jpg").read_bytes() == OURS
    assert src.read_bytes() == THEIRS


def test_without_noreplace_or_links_a_file_renamed_onto_the_placeholder_is_kept(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = make(tmp_path / "in" / "a.jpg", OURS)
    newcomer = make(tmp_path / "staged.jpg", THEIRS)
    target = tmp_path / "out" / "a.jpg"
    target.parent.mkdir()
    real_open = os.open

    def open_then_swap(path: Path, flags: int, mode: int = 0o777) -> int:
        fd = real_open(path, flags, mode)
        if Path(path) == target and newcomer.exists():
            os.rename(newcomer, target)  # another program takes the name we reserved
        return fd

    monkeypatch.setattr(route, "_renameat2", None)
    monkeypatch.setattr(os, "link", no_links)
    monkeypatch.setattr(os, "open", open_then_swap)
    with pytest.raises(FileExistsError):
        route.rename_noreplace(src, target)
    assert target.read_bytes() == THEIRS and src.read_bytes() == OURS


def test_without_noreplace_or_links_a_failed_rename_removes_only_its_own_placeholder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = make(tmp_path / "in" / "a.jpg", OURS)
    newcomer = make(tmp_path / "staged.jpg", THEIRS)
    target = tmp_path / "out" / "a.jpg"
    target.parent.mkdir()
    real_rename = os.rename

    def swap_then_fail(old: Path, new: Path) -> None:
        real_rename(newcomer, target)  # another program takes the name we reserved...
        raise OSError(errno.EIO, "Input/output error")  # ...and our rename fails

    monkeypatch.setattr(route, "_renameat2", None)
    monkeypatch.setattr(os, "link", no_links)
    monkeypatch.setattr(os, "rename", swap_then_fail)
    with pytest.raises(OSError, match="Input/output"):
        route.rename_noreplace(src, target)
    assert target.read_bytes() == THEIRS and src.read_bytes() == OURS
