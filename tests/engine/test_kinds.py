"""What a file is, by its name: media, sidecar, or to be left alone."""

from __future__ import annotations

from pathlib import Path

from facewatchd.engine import kinds


def test_kinds_go_by_the_name_in_any_case() -> None:
    assert kinds.kind_of(Path("a/IMG_0001.HEIC")) == "image"
    assert kinds.kind_of(Path("clip.MOV")) == "video"
    for other in ("notes.txt", "scan.pdf", "settings.json"):
        assert kinds.kind_of(Path(other)) is None  # left alone (a lone JSON is nobody's sidecar)
    assert not kinds.wanted(".hidden.jpg") and not kinds.wanted("IMG_0001.jpg.part")


def test_sidecars_are_known_by_their_photos_name() -> None:
    for sidecar in ("IMG_0001.xmp", "IMG_0001.JPG.xmp", "IMG_0001.jpg.json", "IMG_0001.AAE",
                    "IMG_0001.jpg.supplemental-metadata.json", "IMG_0001.jpg.supplemental-metad.json"):
        assert kinds.kind_of(Path(sidecar)) == "sidecar", sidecar
        assert kinds.belongs_to(sidecar, "IMG_0001.JPG"), sidecar
        assert not kinds.belongs_to(sidecar, "IMG_0002.jpg") and not kinds.belongs_to(sidecar, "IMG_00011.jpg")


def test_a_sidecar_is_renamed_as_its_photo_is() -> None:
    assert kinds.renamed("IMG_0001.jpg.json", "IMG_0001.jpg", "IMG_0001_1.jpg") == "IMG_0001_1.jpg.json"
    assert kinds.renamed("IMG_0001.XMP", "IMG_0001.jpg", "IMG_0001_1.jpg") == "IMG_0001_1.XMP"
    assert kinds.renamed("IMG_0001.JPG.xmp", "IMG_0001.JPG", "IMG_0001_2.JPG") == "IMG_0001_2.JPG.xmp"


def test_the_sidecars_and_the_photo_beside_each_other(tmp_path: Path) -> None:
    for name in ("IMG_0001.jpg", "IMG_0001.xmp", "IMG_0001.jpg.json", "IMG_0002.xmp", "notes.txt",
                 ".IMG_0001.xmp"):
        (tmp_path / name).write_text(name)
    (tmp_path / "IMG_0001.AAE").symlink_to("/etc/passwd")  # never followed, never taken
    assert kinds.sidecars_of(tmp_path / "IMG_0001.jpg") == [tmp_path / "IMG_0001.jpg.json",
                                                            tmp_path / "IMG_0001.xmp"]
    assert kinds.photo_of(tmp_path / "IMG_0001.xmp") == tmp_path / "IMG_0001.jpg"
    assert kinds.photo_of(tmp_path / "IMG_0002.xmp") is None


def test_a_raw_file_belongs_to_the_picture_of_its_stem_with_its_own_xmp(tmp_path: Path) -> None:
    for name in ("IMG_1.JPG", "IMG_1.CR2", "IMG_1.xmp", "IMG_1.CR2.xmp", "IMG_1.nef", "IMG_2.DNG",
                 "IMG_3.mp4", "IMG_3.arw"):
        (tmp_path / name).write_text(name)
    assert kinds.kind_of(tmp_path / "IMG_1.CR2") == "sidecar"
    assert kinds.sidecars_of(tmp_path / "IMG_1.JPG") == [
        tmp_path / n for n in ("IMG_1.CR2", "IMG_1.CR2.xmp", "IMG_1.nef", "IMG_1.xmp")]
    assert kinds.photo_of(tmp_path / "IMG_1.CR2") == tmp_path / "IMG_1.JPG"
    assert kinds.photo_of(tmp_path / "IMG_1.CR2.xmp") == tmp_path / "IMG_1.JPG"
    assert kinds.photo_of(tmp_path / "IMG_2.DNG") is None  # alone: left where it is
    assert kinds.photo_of(tmp_path / "IMG_3.arw") is None  # a video has no RAW
    assert kinds.renamed("IMG_1.CR2.xmp", "IMG_1.JPG", "IMG_1_1.JPG") == "IMG_1_1.CR2.xmp"
