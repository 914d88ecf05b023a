"""What a person says of someone, through a real daemon and facewatchctl: "not this
person" (and what it vetoes), a person's filed files, rename and merge, each undone."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from PIL import Image

from ..helpers import DaemonProcess, files_under, ledger_agrees_with_disk, sha256, tree

# Where small_face() puts the photo: LEFT, TOP, WIDTH, HEIGHT.
DRAWN = (800, 500, 40, 76)


def small_face(photo: Path, out: Path) -> Path:
    """`photo` shrunk to a face of some 20 px on a large grey photo: too small for the
    detector, the face a person draws."""
    canvas = Image.new("RGB", (1600, 1200), (128, 128, 128))
    canvas.paste(Image.open(photo).convert("RGB").resize(DRAWN[2:]), DRAWN[:2])
    canvas.save(out, quality=92)
    return out


def ctl_json(daemon: DaemonProcess, *args: str | Path) -> object:
    return json.loads(daemon.ctl("--json", *args).stdout)


def drop(daemon: DaemonProcess, photo: Path, name: str) -> None:
    processed = daemon.status()["processed"]
    shutil.copy2(photo, daemon.config.parent / "inbound" / name)
    daemon.wait_idle(processed + 1)


def test_not_this_person_sends_a_filed_photo_to_review_and_vetoes_its_copies(
        data: Path, tmp_path: Path) -> None:
    config = tree(tmp_path, data)
    photo = data / "people" / "Barack_Obama" / "obama2.jpg"
    recoded = tmp_path / "recoded.jpg"  # the same face, other bytes: a phone's copy, say
    Image.open(photo).save(recoded, quality=70)
    assert sha256(recoded) != sha256(photo)
    with DaemonProcess(config) as daemon:
        daemon.ready()
        drop(daemon, photo, "o.jpg")
        filed = tmp_path / "sorted" / "Barack_Obama" / "o.jpg"
        assert filed.exists()
        said = ctl_json(daemon, "not", filed, "Barack_Obama")
        assert said["moved"] and len(said["negatives"]) == 1
        assert not filed.exists() and Path(said["path"]) == tmp_path / "review" / "o.jpg"
        assert Path(said["path"]).exists()
        (negative,) = ctl_json(daemon, "negatives", "Barack_Obama")
        assert negative["id"] == said["negatives"][0] and negative["active"]
        why = ctl_json(daemon, "why", said["path"])
        assert why["outcome"] == "review" and why["actor"] == "user"

        drop(daemon, recoded, "copy.jpg")
        assert (tmp_path / "review" / "copy.jpg").exists()
        assert not (tmp_path / "sorted" / "Barack_Obama" / "copy.jpg").exists()
        (item,) = [i for i in ctl_json(daemon, "review", "list") if i["path"].endswith("copy.jpg")]
        rule = ctl_json(daemon, "why", "--item", str(item["id"]))["evidence"]["rule"]
        assert f"negative example {said['negatives'][0]}" in rule, rule
        # The page offers no "maybe Barack_Obama" for it.
        page = ctl_json(daemon, "review", "page")
        assert all(i["suggestion"] is None for i in page["items"] if i["id"] == item["id"])

        # Undone: back where it was, the negative example no longer in use.
        undone = ctl_json(daemon, "undo", "--entries", str(said["entry"]))
        assert undone["results"][0]["ok"], undone
        assert filed.exists()
        assert ctl_json(daemon, "negatives")[0]["active"] is False
        assert daemon.stop() == 0


def test_not_one_of_two_persons_and_its_undo_keep_the_file_under_everyone_else(
        data: Path, tmp_path: Path) -> None:
    config = tree(tmp_path, data)
    sorted_ = tmp_path / "sorted"
    with DaemonProcess(config) as daemon:
        daemon.ready()
        drop(daemon, data / "groups" / "two_people.jpg", "t.jpg")
        obama, biden = sorted_ / "Barack_Obama" / "t.jpg", sorted_ / "Joe_Biden" / "t.jpg"
        assert obama.exists() and biden.exists()
        said = ctl_json(daemon, "not", obama, "Barack_Obama")
        assert said["moved"] and Path(said["path"]) == biden
        assert not obama.exists() and biden.exists()
        ledger_agrees_with_disk(tmp_path, [sorted_, tmp_path / "review"])

        undone = ctl_json(daemon, "undo", "--entries", str(said["entry"]))
        assert undone["results"][0]["ok"], undone
        assert obama.exists() and biden.exists() and obama.stat().st_ino == biden.stat().st_ino
        assert sorted(p.name for p in files_under(sorted_)) == ["t.jpg", "t.jpg"]
        ledger_agrees_with_disk(tmp_path, [sorted_, tmp_path / "review"])
        assert daemon.stop() == 0


def test_person_files_rename_and_merge_carry_every_file_and_reference(data: Path, tmp_path: Path) -> None:
    config = tree(tmp_path, data)
    with DaemonProcess(config) as daemon:
        daemon.ready()
        drop(daemon, data / "people" / "Kit_Harington" / "johnsnow_test1.jpg", "kit.jpg")
        drop(daemon, data / "people" / "Joe_Biden" / "biden2.jpg", "joe.jpg")
        drop(daemon, data / "people" / "Barack_Obama" / "obama2.jpg", "barack.jpg")
        kit = tmp_path / "sorted" / "Kit_Harington" / "kit.jpg"
        assert kit.exists()
        listed = ctl_json(daemon, "person", "files", "Kit_Harington")
        assert [Path(f["path"]) for f in listed] == files_under(tmp_path / "sorted" / "Kit_Harington")
        assert listed[0]["faces"][0]["person"] == "Kit_Harington"

        renamed = ctl_json(daemon, "person", "rename", "Kit_Harington", "Jon_Snow")
        assert renamed["references"] == 2 and [f["ok"] for f in renamed["files"]] == [True]
        assert files_under(tmp_path / "sorted" / "Jon_Snow") == [tmp_path / "sorted" / "Jon_Snow" / "kit.jpg"]
        assert not (tmp_path / "sorted" / "Kit_Harington").exists() or not files_under(
            tmp_path / "sorted" / "Kit_Harington")
        assert sorted(p.name for p in (tmp_path / "references" / "Jon_Snow").iterdir()) == [
            "john1.jpeg", "john2.jpeg"]
        assert not (tmp_path / "references" / "Kit_Harington").exists()
        persons = {p["name"]: p["references"] for p in ctl_json(daemon, "persons")}
        assert persons == {"Barack_Obama": 2, "Joe_Biden": 1, "Jon_Snow": 2}
        # The references folder agrees with the database: a reload enrols nothing again.
        reloaded = ctl_json(daemon, "reload")
        assert (reloaded["added"], reloaded["deactivated"]) == (0, 0), reloaded
        assert [Path(f["path"]) for f in ctl_json(daemon, "person", "files", "Jon_Snow")] == [
            tmp_path / "sorted" / "Jon_Snow" / "kit.jpg"]

        refused = daemon.ctl("person", "rename", "Jon_Snow", "Joe_Biden", check=False)
        assert refused.returncode != 0 and "person merge" in refused.stderr
        merged = ctl_json(daemon, "person", "merge", "Joe_Biden", "Barack_Obama")
        assert merged["references"] == 1
        assert sorted(p.name for p in files_under(tmp_path / "sorted" / "Barack_Obama")) == [
            "barack.jpg", "joe.jpg"]
        persons = {p["name"]: p["references"] for p in ctl_json(daemon, "persons")}
        assert persons == {"Barack_Obama": 3, "Jon_Snow": 2}
        assert sorted(p.name for p in (tmp_path / "references" / "Barack_Obama").iterdir()) == [
            "biden.jpg", "obama.jpg", "obama1.jpg"]

        # Undoing the merge's moves gives Joe_Biden back his file and his reference.
        entries = [str(f["entry"]) for f in merged["files"]]
        undone = ctl_json(daemon, "undo", "--entries", *entries)
        assert all(r["ok"] for r in undone["results"]), undone
        assert (tmp_path / "sorted" / "Joe_Biden" / "joe.jpg").exists()
        persons = {p["name"]: p["references"] for p in ctl_json(daemon, "persons")}
        assert persons == {"Barack_Obama": 2, "Joe_Biden": 1, "Jon_Snow": 2}
        assert (tmp_path / "references" / "Joe_Biden" / "biden.jpg").exists()
        reloaded = ctl_json(daemon, "reload")
        assert (reloaded["added"], reloaded["deactivated"]) == (0, 0), reloaded
        assert daemon.stop() == 0


def test_a_face_drawn_on_a_review_item_files_it_and_adds_one_reference(data: Path, tmp_path: Path) -> None:
    config = tree(tmp_path, data)
    with DaemonProcess(config) as daemon:
        daemon.ready()
        drop(daemon, small_face(data / "people" / "Barack_Obama" / "obama2.jpg", tmp_path / "s.jpg"), "s.jpg")
        (item,) = ctl_json(daemon, "review", "list")
        assert item["reason"] == "no_face"
        before = {p["name"]: p["references"] for p in ctl_json(daemon, "persons")}
        refused = daemon.ctl("review", "add-face", str(item["id"]), "--box", "1590,1190,40,40",
                             "--person", "Barack_Obama", check=False)
        assert refused.returncode != 0 and "not inside the photo" in refused.stderr, refused.stderr
        box = ",".join(map(str, DRAWN))
        added = ctl_json(daemon, "review", "add-face", str(item["id"]), "--box", box, "--person", "Barack_Obama")
        (result,) = added["results"]
        assert result["ok"] and Path(result["path"]) == tmp_path / "sorted" / "Barack_Obama" / "s.jpg"
        assert Path(result["path"]).exists() and ctl_json(daemon, "review", "list") == []
        after = {p["name"]: p["references"] for p in ctl_json(daemon, "persons")}
        assert after == {**before, "Barack_Obama": before["Barack_Obama"] + 1}
        (ref,) = [r for r in ctl_json(daemon, "references", "Barack_Obama") if r["id"] == result["reference"]]
        assert ref["origin"] == "drawn" and ref["box"] == [500, 840, 576, 800]
        assert "drawn by the user" in ctl_json(daemon, "why", result["path"])["evidence"]["rule"]
        assert daemon.stop() == 0


def test_the_reference_audit_flags_a_stranger_and_a_disable_lists_what_to_check(
        data: Path, tmp_path: Path) -> None:
    config = tree(tmp_path, data)
    shutil.copy2(data / "people" / "Joe_Biden" / "biden2.jpg", tmp_path / "references" / "Barack_Obama")
    with DaemonProcess(config) as daemon:
        daemon.ready()
        refs = {Path(r["path"]).name: r for r in ctl_json(daemon, "references", "Barack_Obama")}
        assert refs["biden2.jpg"]["far"] and not refs["obama.jpg"]["far"], refs
        for r in refs.values():
            assert r["side"] > 50 and r["score"] is not None and r["sharpness"] > 0 and r["created"] > 0
        (line,) = [x for x in daemon.ctl("references", "Barack_Obama").stdout.splitlines() if "biden2" in x]
        assert line.split().count("yes") == 2  # active, and far

        drop(daemon, data / "people" / "Kit_Harington" / "johnsnow_test1.jpg", "kit.jpg")
        kit = tmp_path / "sorted" / "Kit_Harington" / "kit.jpg"
        assert kit.exists() and ctl_json(daemon, "check") == []
        answers = [ctl_json(daemon, "reference", "disable", str(r["id"]))
                   for r in ctl_json(daemon, "references", "Kit_Harington")]
        (listed,) = answers[-1]["check"]
        assert Path(listed["path"]) == kit and listed["now"]["outcome"] == "review"
        assert kit.exists()  # listed, never moved on its own
        assert [Path(r["path"]) for r in ctl_json(daemon, "check")] == [kit]
        assert daemon.stop() == 0


def test_not_one_of_three_persons_leaves_the_file_under_the_two_others(data: Path, tmp_path: Path) -> None:
    # Three known faces side by side: filed under all three, one name each.
    people = data / "people"
    canvas = Image.new("RGB", (1500, 600), (128, 128, 128))
    for n, photo in enumerate((people / "Barack_Obama" / "obama2.jpg", people / "Joe_Biden" / "biden2.jpg",
                               people / "Kit_Harington" / "johnsnow_test1.jpg")):
        face = Image.open(photo).convert("RGB")
        face.thumbnail((480, 580))
        canvas.paste(face, (500 * n + 10, 10))
    three = tmp_path / "three.jpg"
    canvas.save(three, quality=92)
    config = tree(tmp_path, data)
    sorted_ = tmp_path / "sorted"
    with DaemonProcess(config) as daemon:
        daemon.ready()
        drop(daemon, three, "t.jpg")
        names = [sorted_ / p / "t.jpg" for p in ("Barack_Obama", "Joe_Biden", "Kit_Harington")]
        assert all(n.exists() for n in names), list(files_under(sorted_))
        primary = Path(ctl_json(daemon, "why", names[0])["target"])
        person = primary.parent.name  # not the one whose folder holds the file's own name
        said = ctl_json(daemon, "not", primary, person)
        assert said["moved"]
        assert sorted(p.parent.name for p in files_under(sorted_)) == sorted(
            p.parent.name for p in names if p.parent.name != person)
        ledger_agrees_with_disk(tmp_path, [sorted_, tmp_path / "review"])

        undone = ctl_json(daemon, "undo", "--entries", str(said["entry"]))
        assert undone["results"][0]["ok"], undone
        assert all(n.exists() for n in names) and len({n.stat().st_ino for n in names}) == 1
        ledger_agrees_with_disk(tmp_path, [sorted_, tmp_path / "review"])
        assert daemon.stop() == 0
