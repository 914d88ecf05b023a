from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

from .test_media import ffmpeg

OBAMA = Path("people") / "Barack_Obama" / "obama.jpg"


@pytest.mark.parametrize("fmt, mode, suffix", [
    ("PNG", "RGBA", ".png"), ("PNG", "L", ".png"), ("PNG", "I;16", ".png"), ("GIF", "P", ".gif"),
    ("BMP", "RGB", ".bmp"), ("WEBP", "RGB", ".webp"), ("TIFF", "RGB", ".tiff"), ("JPEG", "L", ".jpg"),
    ("JPEG", "CMYK", ".jpg"),
])
def test_each_image_format_finds_the_face(engine, data: Path, tmp_path: Path, fmt, mode, suffix) -> None:
    path = tmp_path / f"obama{suffix}"
    with Image.open(data / OBAMA) as image:
        if mode == "I;16":
            wide = np.asarray(image.convert("L"), dtype=np.uint16) * 257
            converted = Image.fromarray(wide)
        else:
            converted = image.convert(mode)
        converted.save(path, fmt)
    report = engine.analyse(path)
    assert report.error is None and len(report.faces) == 1, (fmt, mode, report.error)


def test_a_multi_frame_gif_is_read_from_its_first_frame(engine, data: Path, tmp_path: Path) -> None:
    with Image.open(data / OBAMA) as image:
        first = image.convert("RGB")
    blank = Image.new("RGB", first.size)
    first.save(tmp_path / "anim.gif", save_all=True, append_images=[blank, blank])
    assert len(engine.analyse(tmp_path / "anim.gif").faces) == 1


@pytest.mark.parametrize("name", ["obama2.heic", "biden2.heic"])
def test_heic_photos_are_read(engine, data: Path, name: str) -> None:
    report = engine.analyse(data / "formats" / name)
    assert report.error is None and len(report.faces) == 1


def test_the_rotated_jpeg_needs_its_exif_orientation(engine, data: Path, tmp_path: Path) -> None:
    rotated = data / "formats" / "rose_leslie_exif_orientation6.jpg"
    assert len(engine.analyse(rotated).faces) == 1
    with Image.open(rotated) as image:
        image.save(tmp_path / "no_exif.jpg", quality=95)  # same pixels, orientation dropped
    assert len(engine.analyse(tmp_path / "no_exif.jpg").faces) == 0


def test_boxes_are_in_original_pixels_after_downscaling(engine, data: Path, tmp_path: Path) -> None:
    with Image.open(data / OBAMA) as image:
        small_box = engine.analyse(data / OBAMA).faces[0].box
        big_size = (image.width * 4, image.height * 4)
        image.resize(big_size).save(tmp_path / "big.jpg", quality=95)
    report = engine.analyse(tmp_path / "big.jpg")
    assert report.size == big_size
    big_box = report.faces[0].box
    face_height = big_box[2] - big_box[0]
    # The detector sees a different scale, so the box shifts a little: within 10% of the face.
    assert all(abs(b - 4 * s) < 0.1 * face_height
               for b, s in zip(big_box, small_box, strict=True)), (big_box, small_box)


def test_a_group_photo_gives_a_face_each(engine, data: Path) -> None:
    report = engine.analyse(data / "groups" / "two_people.jpg")
    assert len(report.faces) == 2
    assert report.sha256 and report.signature.size == (data / "groups" / "two_people.jpg").stat().st_size


@pytest.mark.parametrize("name", ["cat.jpg", "dogs.jpg", "pilatus_mountain.jpg"])
def test_photos_without_people_have_no_face(engine, data: Path, name: str) -> None:
    report = engine.analyse(data / "no_faces" / name)
    # A dog's face may come back as a weak face (score below 0: a look for turned faces
    # when nothing else is found); the decision sends such a file to review as "no face".
    assert report.error is None and all(face.score < 0 for face in report.faces)
    assert len(report.faces) <= 1


def test_a_picture_just_over_half_max_side_is_enlarged_for_its_small_faces(engine, data: Path) -> None:
    # groups/group_2.jpg: 640x828, five faces of ~45 px. Enlarged towards 1600 px (x1.93),
    # they are found as the CLI finds them; shrunk or left as it was, none is.
    report = engine.analyse(data / "groups" / "group_2.jpg")
    assert len([f for f in report.faces if f.score >= 0]) == 5
    assert all(40 <= f.side <= 60 and f.sharpness > 0 for f in report.faces)


def test_the_fine_pass_finds_a_face_of_3_percent_of_a_12_mp_photo(data: Path, tmp_path: Path) -> None:
    from facewatchd.engine.faces import FaceEngine
    canvas = Image.new("RGB", (4000, 3000), (90, 110, 90))
    with Image.open(data / OBAMA) as image:
        face = image.convert("RGB")
    # Obama's face is about half the photo's width: this makes it ~120 px (3% of 4000).
    small = face.resize((240, round(240 * face.height / face.width)))
    canvas.paste(small, (1800, 1200))
    canvas.save(tmp_path / "far.jpg", quality=90)
    assert FaceEngine(fine_pass="never").analyse(tmp_path / "far.jpg").faces == ()
    for mode in ("no_face", "proposals", "always"):
        faces = FaceEngine(fine_pass=mode).analyse(tmp_path / "far.jpg").faces
        assert len(faces) == 1 and faces[0].score >= 0, mode


def test_small_faces_beside_a_big_one_are_found_where_blazeface_proposes_them(data: Path, tmp_path: Path) -> None:
    from facewatchd.engine.faces import FaceEngine
    canvas = Image.new("RGB", (4000, 3000), (120, 100, 90))
    with Image.open(data / OBAMA) as image:
        face = image.convert("RGB")
    canvas.paste(face.resize((1000, round(1000 * face.height / face.width))), (200, 300))
    for x in (1900, 2600, 3300):  # three at ~3% of the side: below the 80 px search
        canvas.paste(face.resize((240, round(240 * face.height / face.width))), (x, 1500))
    canvas.save(tmp_path / "beside.jpg", quality=90)
    engine = FaceEngine(fine_pass="proposals")
    assert engine._proposals is not None, "BlazeFace is installed by scripts/bootstrap"
    found = {mode: [f for f in FaceEngine(fine_pass=mode).analyse(tmp_path / "beside.jpg").faces if f.score >= 0]
             for mode in ("no_face", "always")}
    found["proposals"] = [f for f in engine.analyse(tmp_path / "beside.jpg").faces if f.score >= 0]
    assert len(found["no_face"]) == 1  # the big face stops the finer search
    assert len(found["proposals"]) == len(found["always"]) == 4
    boxes = {mode: sorted((f.box for f in faces), key=lambda box: box[3]) for mode, faces in found.items()}
    # The same faces, boxed alike (HOG boxes both; the crops are searched at another scale).
    for a, b in zip(boxes["proposals"], boxes["always"], strict=True):
        side = b[2] - b[0]
        assert abs((a[0] + a[2]) - (b[0] + b[2])) / 2 < 0.25 * side
        assert abs((a[1] + a[3]) - (b[1] + b[3])) / 2 < 0.25 * side
        assert 2 / 3 < (a[2] - a[0]) / side < 3 / 2


def test_blazeface_skips_the_tiles_inside_a_close_face_and_finds_the_same_faces(
        data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from facewatchd.engine import proposals
    from facewatchd.engine.faces import FaceEngine
    # A close portrait (a face of ~35% of the side, wholly around one 4x3 tile) and two
    # faces at ~2% beside it, which only BlazeFace's tiles find.
    canvas = Image.new("RGB", (4000, 3000), (120, 100, 90))
    with Image.open(data / OBAMA) as image:
        face = image.convert("RGB")
    canvas.paste(face.resize((5600, round(5600 * face.height / face.width))), (-1500, -190))
    for y in (500, 1900):
        canvas.paste(face.resize((240, round(240 * face.height / face.width))), (3500, y))
    canvas.save(tmp_path / "close.jpg", quality=90)
    engine = FaceEngine(fine_pass="proposals")
    assert engine._proposals is not None, "BlazeFace is installed by scripts/bootstrap"
    looked: list[int] = []
    tile = engine._proposals._tile
    monkeypatch.setattr(engine._proposals, "_tile", lambda pixels: looked.append(1) or tile(pixels))
    found = engine.analyse(tmp_path / "close.jpg").faces
    skipping = len(looked)
    looked.clear()
    every = proposals.FaceProposals.__call__
    monkeypatch.setattr(proposals.FaceProposals, "__call__", lambda self, rgb, within=(): every(self, rgb))
    again = engine.analyse(tmp_path / "close.jpg").faces
    assert [(f.box, f.score) for f in again] == [(f.box, f.score) for f in found]
    assert all(np.array_equal(a.encoding, b.encoding) for a, b in zip(again, found, strict=True))
    assert skipping < len(looked) == 12
    assert len(found) == 3 and all(f.score >= 0 for f in found)


def test_hog_searches_a_phone_photo_at_400_px_and_a_smaller_picture_at_a_quarter_of_its_finer_side(
        data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from facewatchd.engine.faces import FaceEngine
    engine = FaceEngine(fine_pass="proposals")
    assert engine._proposals is not None, "BlazeFace is installed by scripts/bootstrap"
    with Image.open(data / OBAMA) as image:
        image.convert("RGB").resize((4000, 3000)).save(tmp_path / "phone.jpg", quality=90)
    shown: list[int] = []
    search = FaceEngine._at
    monkeypatch.setattr(FaceEngine, "_at", lambda self, frame, side, enlarge=1.0:
                        shown.append(side) or search(self, frame, side, enlarge))
    assert engine.analyse(tmp_path / "phone.jpg").faces
    assert engine.analyse(data / OBAMA).faces  # 910x1137: finer side 2274, a quarter 568
    assert shown == [400, 568]


def test_a_near_miss_in_a_proposals_crop_is_searched_again_larger(
        data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from facewatchd.engine import faces
    # A blurred face at ~3% of a 12 MP photo: in its crop at 110 px (in grey) HOG scores
    # it just below its threshold; at 150 px (in colour) just above, as the exhaustive
    # search does.
    canvas = Image.new("RGB", (4000, 3000), (120, 100, 90))
    with Image.open(data / OBAMA) as image:
        face = image.convert("RGB").resize((260, round(260 * image.height / image.width)))
    canvas.paste(face.filter(ImageFilter.GaussianBlur(4)), (1800, 1400))
    canvas.save(tmp_path / "blurred.jpg", quality=90)
    exhaustive = faces.FaceEngine(fine_pass="always").analyse(tmp_path / "blurred.jpg").faces
    assert len(exhaustive) == 1 and exhaustive[0].score >= 0
    engine = faces.FaceEngine(fine_pass="proposals")
    channels: list[int] = []  # of each picture HOG is shown: the photo, then the crops
    hog = engine._hog
    engine._hog = type("Spy", (), {"run": lambda _, pixels, *a: channels.append(pixels.ndim) or hog.run(pixels, *a)})()
    found = engine.analyse(tmp_path / "blurred.jpg").faces
    assert len(found) == 1 and found[0].score >= 0
    assert channels == [2, 2, 3]  # the second look in colour, as the CLI searches
    monkeypatch.setattr(faces, "_CROP_FACES", faces._CROP_FACES[:1])
    once = engine.analyse(tmp_path / "blurred.jpg").faces
    assert len(once) == 1 and once[0].score < 0  # only the weak fallback without the second look


def test_a_video_is_read_from_several_frames(engine, data: Path) -> None:
    report = engine.analyse(data / "video" / "hamilton_clip.mp4")
    assert report.kind == "video" and report.error is None
    assert len(report.frame_times) == 8
    assert report.faces and all(f.time in report.frame_times for f in report.faces)


def test_a_phone_video_stored_sideways_is_turned_upright(engine, data: Path, tmp_path: Path) -> None:
    stored, clip = tmp_path / "stored.mp4", tmp_path / "portrait.mp4"
    # Pixels stored turned right, with the rotation tag a phone writes to show them upright
    # (ffmpeg 5 writes the tag only when remuxing).
    ffmpeg("-loop", "1", "-i", data / OBAMA, "-t", "1", "-r", "5", "-vf", "scale=640:-2,transpose=1",
           "-pix_fmt", "yuv420p", stored)
    ffmpeg("-i", stored, "-c", "copy", "-metadata:s:v:0", "rotate=90", clip)
    assert not engine.analyse(stored).faces  # sideways, the face is not found
    report = engine.analyse(clip)
    assert report.size == (640, 800)
    assert report.faces


def test_a_symlink_is_not_followed(engine, data: Path, tmp_path: Path) -> None:
    (tmp_path / "link.jpg").symlink_to(data / OBAMA)
    report = engine.analyse(tmp_path / "link.jpg")
    assert report.error and report.signature is None and report.faces == ()


def test_a_fifo_is_refused_without_blocking(engine, tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.jpg")
    report = engine.analyse(tmp_path / "pipe.jpg")
    assert report.error == "not a regular file"


def test_a_corrupt_file_is_reported_not_raised(engine, data: Path, tmp_path: Path) -> None:
    (tmp_path / "half.jpg").write_bytes((data / OBAMA).read_bytes()[:5000])
    report = engine.analyse(tmp_path / "half.jpg")
    assert report.failed and "cannot decode" in report.error
    assert report.signature is not None  # it was opened: the sorter sets it aside


def test_encodings_agree_with_face_recognition(engine, data: Path) -> None:
    """Same models, same result as the classic API (which must also import without exiting)
    for the same face box: the detectors search at different scales (the picture is
    enlarged towards max_side here), the encoder must not care."""
    face = engine.analyse(data / OBAMA).faces[0]
    code = ("import face_recognition, json, sys; "
            f"img = face_recognition.load_image_file({str(data / OBAMA)!r}); "
            f"print(json.dumps(list(face_recognition.face_encodings(img, [{tuple(face.box)!r}])[0])))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    theirs = np.array(json.loads(result.stdout))
    assert np.linalg.norm(face.encoding - theirs) < 0.02


def test_a_face_is_encoded_in_a_box_given_whether_or_not_it_is_detected(engine, data: Path) -> None:
    # What import-regions and a drawn face rely on: the landmarks found within the box.
    photo = data / "people" / "Barack_Obama" / "obama2.jpg"
    (found,) = engine.analyse(photo).faces
    (given,) = engine.faces_at(photo, [found.box])
    assert np.linalg.norm(given.encoding - found.encoding) < 0.05
    top, right, bottom, left = found.box
    (looser,) = engine.faces_at(photo, [(top - 20, right + 15, bottom + 10, left - 15)])  # a tool's box
    assert np.linalg.norm(looser.encoding - found.encoding) < 0.3


def test_the_encodings_from_the_cut_chips_are_the_encoders_own(engine, data: Path) -> None:
    # _encoded cuts each face's chip once, for the encoder and the sharpness: the encoder
    # given the image and the landmarks would cut the very same chip.
    import dlib

    from facewatchd.engine import media, rects

    frame, _, _ = media.load_image((data / "groups" / "obama_and_biden.jpg").read_bytes(), 1600)
    found = rects.strong(engine._whole(frame))
    assert len(found) >= 2
    faces = engine._encoded(frame, found)
    shapes = dlib.full_object_detections()
    for rect, _ in found:
        shapes.append(engine._landmarks(frame.pixels, rect))
    theirs = engine._encoder.compute_face_descriptor(frame.pixels, shapes)
    for face, encoding in zip(faces, theirs, strict=True):
        assert np.linalg.norm(face.encoding - np.array(encoding)) < 1e-6
        assert face.sharpness > 0


def test_a_worker_starts_with_the_models_its_forkserver_loaded() -> None:
    # engine/preload.py, which the pool's forkserver imports, loads them; every engine of
    # the process (a forked worker's) then uses those, loading none of its own.
    from facewatchd.engine import faces, preload

    assert preload.shared_models is faces.shared_models
    assert faces.shared_models.cache_info().currsize == 1
    engine = faces.FaceEngine(fine_pass="never")
    hog, landmarks, encoder = faces.shared_models()
    assert engine._hog is hog and engine._landmarks is landmarks and engine._encoder is encoder


def test_the_detectors_saved_copy_finds_what_dlibs_own_finds(data: Path, tmp_path: Path) -> None:
    # dlib unpacks its built-in detector in ~0.19 s at every start; the copy saved on the
    # first load is the same detector, loaded in milliseconds.
    import dlib

    from facewatchd.engine import faces

    first = faces.frontal_detector(tmp_path)
    saved = list(tmp_path.iterdir())
    assert [p.name for p in saved] == [f"frontal_face_detector-dlib-{dlib.__version__}.svm"]
    again = faces.frontal_detector(tmp_path)
    assert list(tmp_path.iterdir()) == saved
    pixels = np.asarray(Image.open(data / "groups" / "obama_and_biden.jpg").convert("L"))
    theirs = dlib.get_frontal_face_detector().run(pixels, 1, -0.5)
    for detector in (first, again):
        boxes, scores, kinds = detector.run(pixels, 1, -0.5)
        assert list(boxes) == list(theirs[0]) and scores == theirs[1] and kinds == theirs[2]
    assert len(theirs[0]) >= 2


def test_a_damaged_or_unwritable_saved_detector_costs_only_time(tmp_path: Path) -> None:
    import dlib

    from facewatchd.engine import faces

    faces.frontal_detector(tmp_path)
    (path,) = tmp_path.iterdir()
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) // 2])  # cut short (a full disk, say)
    assert isinstance(faces.frontal_detector(tmp_path), dlib.fhog_object_detector)
    assert path.read_bytes() == whole  # saved again, whole
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    assert isinstance(faces.frontal_detector(blocked / "cache"), dlib.fhog_object_detector)


def test_the_saved_detector_is_kept_where_systemd_says(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from facewatchd.engine import faces

    monkeypatch.setenv("CACHE_DIRECTORY", f"{tmp_path}/unit:{tmp_path}/other")
    assert faces.cache_dir() == tmp_path / "unit"
    monkeypatch.delenv("CACHE_DIRECTORY")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert faces.cache_dir() == tmp_path / "facewatchd"
