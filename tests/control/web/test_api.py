"""The review page's JSON API through the real `facewatchctl web` and a real daemon
(real photos, real models): what it lists, the files and crops it serves, and the
actions that move files."""

from __future__ import annotations

import hashlib
import io
import json
import time
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from facewatchd.control.client import AnswerError, Client, socket_path
from facewatchd.control.table import COMMANDS, Arg
from facewatchd.control.web.app import route_path

from ...helpers import sha256
from .conftest import Site

SIMM = "John_Simm"


def test_status_and_persons_are_what_facewatchctl_says(site: Site) -> None:
    status = site.get("/api/status")
    cli = site.daemon.status()
    assert set(status) == set(cli) and status["references"] == cli["references"]
    persons = {p["name"]: p for p in site.get("/api/persons")}
    assert {name: (p["references"], p["tolerance"], p["tolerance_set"]) for name, p in persons.items()
            if name in ("Barack_Obama", "Joe_Biden", "bbt_leonard")} == {
        "Barack_Obama": (2, 0.56, False), "Joe_Biden": (1, 0.56, False), "bbt_leonard": (2, 0.55, True)}
    assert "TOLERANCE" in site.daemon.ctl("persons").stdout


def test_the_list_pages_counts_and_points_at_thumbnails(site: Site) -> None:
    mine = site.drop("listing", {"table.jpg": "no_faces/grayscale_table_frame.jpg", "lady.jpg": "groups/lady.jpg",
                                 "savage.jpg": "people/John_Savage/000264_01099001.jpg",
                                 "broken.jpg": b"\xff\xd8\xff\xe0 this is not a picture"})
    whole = site.get("/api/review/list")
    assert whole["total"] == len(whole["items"]) == len(whole["ids"])
    assert whole["ids"] == [i["id"] for i in whole["items"]]
    cli = {i["id"]: i for i in json.loads(site.daemon.ctl("--json", "review", "list").stdout)}
    for item in mine.values():  # as `review list --json`, and more
        assert {k: item[k] for k in cli[item["id"]]} == cli[item["id"]]
    first = site.get("/api/review/list", limit=2, offset=0)
    second = site.get("/api/review/list", limit=2, offset=2)
    assert first["total"] == second["total"] == whole["total"] and second["offset"] == 2
    assert [i["id"] for i in first["items"] + second["items"]] == whole["ids"][:4]
    assert list(site.items("listing", reason="failed")) == ["broken.jpg"]
    lady, broken = mine["lady.jpg"], mine["broken.jpg"]
    assert lady["thumbnail"] == f"/api/review/{lady['id']}/thumbnail" and broken["thumbnail"] is None
    assert [f["n"] for f in lady["face_boxes"]] == [1] and lady["size"][0] > 100
    assert lady["face_boxes"][0]["why"] and not lady["face_boxes"][0]["matched"]
    thumbnail = site.http.get(lady["thumbnail"], headers=site.auth)
    assert thumbnail.headers["content-type"] == "image/jpeg"
    assert max(Image.open(io.BytesIO(thumbnail.content)).size) == 320


def test_suggestions_come_first_in_groups(site: Site) -> None:
    """leonard5 is 0.54 from one of Leonard's two references and 0.57 from the other:
    with his tolerance and support_tolerance of 0.55 (conftest) it would need both, so it is
    "maybe bbt_leonard"."""
    mine = site.drop("maybe", {"leonard5.png": "people/bbt_leonard/leonard5.png",
                               "table.jpg": "no_faces/street_cars.jpg"})
    leonard = mine["leonard5.png"]
    assert leonard["reason"] == "uncertain"
    assert leonard["suggestion"]["person"] == "bbt_leonard" and leonard["suggestion"]["face"] == 1
    assert mine["table.jpg"]["suggestion"] is None
    page = site.get("/api/review/list", order="suggested")
    (group,) = [g for g in page["groups"] if g["person"] == "bbt_leonard"]
    assert {"id": leonard["id"], "face": 1} in group["items"]
    suggested = [i for i in page["items"] if i["suggestion"]]
    assert page["items"][:len(suggested)] == suggested  # the groups head the list
    assert "maybe bbt_leonard" in site.daemon.ctl("review", "page", "--order", "suggested").stdout


def test_the_image_is_the_file_itself_and_a_video_can_be_sought(site: Site) -> None:
    mine = site.drop("files", {"group.jpg": "groups/group_2.jpg", "clip.mp4": "video/pedestrians_1080p.mp4"})
    photo = site.http.get(f"/api/review/{mine['group.jpg']['id']}/image", headers=site.auth)
    assert photo.status_code == 200 and photo.headers["content-type"] == "image/jpeg"
    assert hashlib.sha256(photo.content).hexdigest() == sha256(site.data / "groups" / "group_2.jpg")
    assert "inline" in photo.headers["content-disposition"]
    clip = (site.data / "video" / "pedestrians_1080p.mp4").read_bytes()
    url = f"/api/review/{mine['clip.mp4']['id']}/image"
    head = site.http.head(url, headers=site.auth)
    assert head.headers["content-type"] == "video/mp4" and int(head.headers["content-length"]) == len(clip)
    part = site.http.get(url, headers={**site.auth, "Range": "bytes=1000-1999"})
    assert part.status_code == 206 and part.headers["content-range"] == f"bytes 1000-1999/{len(clip)}"
    assert part.content == clip[1000:2000]
    tail = site.http.get(url, headers={**site.auth, "Range": "bytes=-100"})
    assert tail.status_code == 206 and tail.content == clip[-100:]
    assert site.http.get(url, headers={**site.auth, "Range": "bytes=999999999-"}).status_code == 416
    text = site.daemon.ctl("review", "file", str(mine["clip.mp4"]["id"])).stdout
    assert f"clip.mp4, {len(clip)} bytes (video)" in text


def test_face_crops_of_items_of_a_video_and_of_references(site: Site) -> None:
    mine = site.drop("crops", {"pair.jpg": "groups/voc_2008_002470.jpg", "clip.mp4": "video/hamilton_clip.mp4"})
    pair = mine["pair.jpg"]
    assert len(pair["face_boxes"]) >= 2
    for face in pair["face_boxes"]:
        crop = site.http.get(f"/api/review/{pair['id']}/faces/{face['n']}/crop", headers=site.auth)
        assert crop.status_code == 200 and crop.headers["content-type"] == "image/jpeg"
        assert 40 <= max(Image.open(io.BytesIO(crop.content)).size) <= 192
    beyond = len(pair["face_boxes"]) + 1
    assert site.http.get(f"/api/review/{pair['id']}/faces/{beyond}/crop", headers=site.auth).status_code == 404
    clip = mine["clip.mp4"]
    assert clip["face_boxes"], clip
    for face in clip["face_boxes"][:3]:  # the thumbnail's frame, and others ffmpeg decodes
        crop = site.http.get(f"/api/review/{clip['id']}/faces/{face['n']}/crop", headers=site.auth)
        assert crop.status_code == 200, crop.text
    reference = site.get("/api/references", person="Kit_Harington")[0]
    crop = site.http.get(f"/api/references/{reference['id']}/crop", headers=site.auth)
    assert crop.status_code == 200 and Image.open(io.BytesIO(crop.content)).size[0] >= 64
    assert "of Kit_Harington" in site.daemon.ctl("reference", "face", str(reference["id"])).stdout


def test_why_says_it_in_words(site: Site) -> None:
    pair = site.drop("why", {"pair.jpg": "groups/voc_2009_004587.jpg"})["pair.jpg"]
    why = site.get(f"/api/review/{pair['id']}/why")
    assert why["item"] == pair["id"] and why["target"] == pair["path"]
    assert "none of the 2 faces" in why["evidence"]["rule"] == why["decision_now"]["rule"]
    assert [f["n"] for f in why["now"]] == [1, 2] and "beyond the tolerance" in why["now"][0]["why"]
    text = site.daemon.ctl("why", str(pair["id"])).stdout
    assert text.startswith(f"item {pair['id']}: ") and "with the references now: review" in text


def test_keep_and_add_reference_move_files_and_the_taught_face_has_a_crop(site: Site) -> None:
    mine = site.drop("keep", {"dog.jpg": "no_faces/cats_2.jpg", "pair.jpg": "groups/multiface.jpg"})
    kept = site.post("/api/review/keep", {"ids": [mine["dog.jpg"]["id"]], "person": "Pets",
                                          "new_person": True}).json()
    assert kept["results"][0]["ok"] and kept["at"] <= time.time()
    assert (site.root / "sorted" / "Pets" / "keep" / "dog.jpg").is_file()
    pair = mine["pair.jpg"]
    refused = site.post("/api/review/add-reference", {"ids": [pair["id"]], "person": "Bob"})
    assert refused.status_code == 200 and f"--face 1..{pair['faces']}" in refused.json()["results"][0]["error"]
    taught = site.post("/api/review/add-reference", {"ids": [pair["id"]], "person": "Bob", "face": 1}).json()
    (result,) = taught["results"]
    assert result["ok"] and (site.root / "sorted" / "Bob" / "keep" / "pair.jpg").is_file()
    reference = result["reference"]
    assert site.http.get(f"/api/references/{reference}/crop", headers=site.auth).status_code == 200
    disabled = site.post(f"/api/references/{reference}/disable", {}).json()
    assert (disabled["id"], disabled["active"]) == (reference, False)
    assert "Bob" not in site.get("/api/status")["references"]
    assert site.post(f"/api/references/{reference}/enable", {}).json()["active"] is True


def test_delete_then_restore_round_trips_and_the_trash_is_listed(site: Site) -> None:
    broken = site.drop("bin", {"broken.jpg": b"\xff\xd8\xff\xe0 not a picture either"})["broken.jpg"]
    deleted = site.post("/api/review/delete", {"ids": [broken["id"], 999999]}).json()["results"]
    assert deleted[0]["ok"] and not deleted[1]["ok"]
    assert deleted[0]["path"] == str(site.root / "review" / "trash" / "bin" / "broken.jpg")
    trash = site.items("bin", deleted="true")
    assert [i["id"] for i in trash.values()] == [broken["id"]] and trash["broken.jpg"]["deleted"]
    assert site.http.get(f"/api/review/{broken['id']}/image", headers=site.auth).status_code == 200
    restored = site.post("/api/review/restore", {"ids": [broken["id"]]}).json()["results"]
    assert restored[0]["ok"] and Path(restored[0]["path"]) == Path(broken["path"])
    assert site.items("bin")["broken.jpg"]["id"] == broken["id"]


def test_a_cluster_is_named_without_the_face_taken_out(site: Site) -> None:
    photos = sorted((site.data / "people" / SIMM).iterdir())[:4]
    mine = site.drop("simm", {p.name: str(p.relative_to(site.data)) for p in photos})
    ids = {i["id"] for i in mine.values()}
    cluster = next(c for c in site.get("/api/clusters")["items"] if set(c["items"]) <= ids)
    assert len(cluster["faces"]) == cluster["size"] and {f["item"] for f in cluster["faces"]} == set(cluster["items"])
    wrong = cluster["faces"][-1]
    everyone = [f["id"] for f in cluster["faces"]]
    assert site.post(f"/api/clusters/{cluster['id']}/name",
                     {"person": SIMM, "exclude": [123456789], "faces": everyone}).status_code == 404
    assert site.post(f"/api/clusters/{cluster['id']}/name",
                     {"person": SIMM, "exclude": everyone, "faces": everyone}).status_code == 400
    named = site.post(f"/api/clusters/{cluster['id']}/name",
                      {"person": SIMM, "exclude": [wrong["id"]], "faces": everyone}).json()
    assert named["references"] == cluster["size"] - 1 and named["excluded"] == [wrong["id"]]
    assert named["faces"] == sorted(set(everyone) - {wrong["id"]})
    assert len(site.get("/api/references", person=SIMM)) == cluster["size"] - 1
    # The photo taken out is filed too: it matches the references made of the others.
    assert not site.items("simm") and len(list((site.root / "sorted" / SIMM).rglob("*.jpg"))) == 4


def test_undo_since_an_action_puts_back_only_what_people_did_since(site: Site) -> None:
    mine = site.drop("undo", {"first.jpg": "people/Rose_Leslie/img2.jpg",
                              "second.jpg": "no_faces/pilatus_mountain.jpg"})
    site.post("/api/review/keep", {"ids": [mine["first.jpg"]["id"]], "to": str(site.root / "sorted")})
    second = site.post("/api/review/keep", {"ids": [mine["second.jpg"]["id"]], "to": str(site.root / "sorted")})
    undone = site.post("/api/undo", {"since": f"@{second.json()['at']}", "user": True}).json()["results"]
    assert [Path(r["to"]).name for r in undone if r["ok"]] == ["second.jpg"]
    assert list(site.items("undo")) == ["second.jpg"]  # back in review, as the same item
    assert site.items("undo")["second.jpg"]["id"] == mine["second.jpg"]["id"]
    assert (site.root / "sorted" / "undo" / "first.jpg").is_file()  # before `since`: stays


@pytest.mark.parametrize("name", sorted(c.name for c in COMMANDS.values() if c.http))
def test_the_routes_are_the_command_tables(site: Site, name: str) -> None:
    command = COMMANDS[name]
    assert command.http is not None
    if command.http.method == "GET" and "{" not in command.http.path:
        assert site.http.get(command.http.path, headers=site.auth).status_code == 200
    else:  # routed: no id is no route (404), a wrong method is 405
        path = route_path(command).replace("{id:int}", "0").replace("{ids:int}", "0").replace(
            "{item:int}", "0").replace("{face:int}", "1").replace("{id:str}", "c0")
        other = "POST" if command.http.method == "GET" else "GET"
        assert site.http.request(other, path, headers=site.auth).status_code == 405, path


SHELDON = "bbt_sheldon"


def test_a_cluster_that_changed_since_it_was_shown_is_not_named(site: Site) -> None:
    """A cluster is found again by its id, and grouped again, when the request comes: a
    photo that arrived since may have grown it. Naming it as shown then teaches nothing;
    facewatchctl names it as it is, and says which faces it named."""
    first = site.drop("sheldon", {f"sheldon{n}.png": f"people/{SHELDON}/sheldon{n}.png" for n in (1, 2, 3)})
    ids = {i["id"] for i in first.values()}
    cluster = next(c for c in site.get("/api/clusters")["items"] if set(c["items"]) <= ids)
    shown = [f["id"] for f in cluster["faces"]]
    later = site.drop("sheldon-later", {"sheldon4.png": f"people/{SHELDON}/sheldon4.png"})
    (grown,) = [c for c in site.get("/api/clusters")["items"] if c["id"] == cluster["id"]]
    assert len(grown["faces"]) == len(shown) + 1 and later["sheldon4.png"]["id"] in grown["items"]
    url = f"/api/clusters/{cluster['id']}/name"
    assert site.post(url, {"person": "Sheldon"}).status_code == 400  # which faces, it must say
    refused = site.post(url, {"person": "Sheldon", "faces": shown})
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "changed"
    assert "has changed since it was shown" in refused.json()["error"]["message"]
    cli = site.daemon.ctl("clusters", "name", cluster["id"], "Sheldon", "--faces", *map(str, shown), check=False)
    assert cli.returncode == 75 and "has changed since it was shown" in cli.stderr
    assert "Sheldon" not in site.get("/api/status")["references"]  # nothing taught
    assert len(site.items("sheldon")) == 3 and len(site.items("sheldon-later")) == 1
    named = site.daemon.ctl("clusters", "name", cluster["id"], "Sheldon").stdout
    faces = " ".join(map(str, sorted(f["id"] for f in grown["faces"])))
    assert f"cluster {cluster['id']} is Sheldon: 4 references added (faces {faces}, in items" in named
    assert len(site.get("/api/references", person="Sheldon")) == 4


def test_undo_of_an_actions_entries_puts_back_exactly_those(site: Site) -> None:
    mine = site.drop("entries", {f"{n}.jpg": b"\xff\xd8\xff\xe0 undo " + n.encode() for n in "abc"})
    a, b, c = (mine[f"{n}.jpg"]["id"] for n in "abc")
    to = str(site.root / "sorted")
    (kept_a,) = site.post("/api/review/keep", {"ids": [a], "to": to}).json()["results"]
    (kept_b,) = site.post("/api/review/keep", {"ids": [b], "to": to}).json()["results"]
    assert kept_a["ok"] and isinstance(kept_a["entry"], int) and kept_b["entry"] > kept_a["entry"]
    (undone,) = site.post("/api/undo", {"entries": [kept_a["entry"]]}).json()["results"]
    assert undone["ok"] and undone["entry"] == kept_a["entry"] and Path(undone["to"]) == Path(mine["a.jpg"]["path"])
    assert sorted(site.items("entries")) == ["a.jpg", "c.jpg"]  # b, kept after, stays kept
    assert (site.root / "sorted" / "entries" / "b.jpg").is_file()
    assert "now at" in site.daemon.ctl("undo", "--entries", str(kept_b["entry"])).stdout
    assert sorted(site.items("entries")) == ["a.jpg", "b.jpg", "c.jpg"]
    again = site.post("/api/undo", {"entries": [kept_a["entry"]]}).json()["results"]
    assert not again[0]["ok"] and "moved again since" in again[0]["error"]
    # Moved again by someone else since: not this action's to undo; it stays.
    (deleted,) = site.post("/api/review/delete", {"ids": [c]}).json()["results"]
    assert site.post("/api/review/restore", {"ids": [c]}).json()["results"][0]["ok"]
    (stays,) = site.post("/api/undo", {"entries": [deleted["entry"]]}).json()["results"]
    assert not stays["ok"] and "moved again since (by user" in stays["error"]
    assert site.items("entries")["c.jpg"]["id"] == c
    assert site.post("/api/undo", {"entries": [1 << 62]}).json()["results"][0]["ok"] is False


BEYOND = [1 << 63, 1 << 64, -(1 << 63) - 1, 10 ** 30]  # no SQLite integer, so no id


def test_an_id_beyond_the_stores_integers_is_not_found_or_a_usage_error(site: Site) -> None:
    log = site.daemon.log.read_text()
    for n in BEYOND[:2]:
        for path in ("/api/review/{n}/image", "/api/review/{n}/thumbnail", "/api/review/{n}/why",
                     "/api/review/{n}/faces/1/crop", "/api/review/1/faces/{n}/crop", "/api/references/{n}/crop"):
            response = site.http.get(path.format(n=n), headers=site.auth)
            assert response.status_code == 404 and response.json()["error"]["code"] == "not_found", path
        assert site.post(f"/api/references/{n}/disable", {}).status_code == 404
    for n in BEYOND:
        for path, body in (("/api/review/delete", {"ids": [n]}), ("/api/review/keep", {"ids": [1, n], "person": "A"}),
                           ("/api/clusters/c1/name", {"person": "A", "faces": [n]}),
                           ("/api/clusters/c1/name", {"person": "A", "faces": [1], "exclude": [n]}),
                           ("/api/review/add-reference", {"ids": [1], "person": "A", "face": n}),
                           ("/api/undo", {"entries": [n]})):
            response = site.post(path, body)
            assert (response.status_code, response.json()["error"]["code"]) == (400, "bad_args"), (path, body)
    # Every integer argument of every command, through the socket, the others as they may be.
    client = Client(socket_path(site.config))
    try:
        for command in COMMANDS.values():
            for arg in command.args:
                if (arg.item if arg.kind is list else arg.kind) is not int or arg.local:
                    continue
                for n in BEYOND:
                    args = {a.name: _fine(a) for a in command.args if a.required and not a.local}
                    args[arg.name] = [1, n] if arg.kind is list else n
                    with pytest.raises(AnswerError) as refused:
                        client.call(command.name, args)
                    assert refused.value.wire_code == "bad_args", (command.name, arg.name, n)
                    assert f"{arg.name} must be between" in str(refused.value), str(refused.value)
    finally:
        client.close()
    for args in (("review", "file", str(1 << 64)), ("reference", "disable", str(1 << 63)),
                 ("why", str(1 << 64)), ("review", "face", "1", str(1 << 64)),
                 ("review", "delete", "1", str(1 << 64)), ("review", "list", "--limit", str(1 << 64))):
        result = site.daemon.ctl(*args, check=False)
        assert result.returncode == 64 and "Traceback" not in result.stderr, (args, result.stderr)
    new = site.daemon.log.read_text()[len(log):]
    assert "Traceback" not in new and "control command" not in new, new


def _fine(arg: Arg) -> Any:
    """A value the table allows for `arg`."""
    kind = arg.item if arg.kind is list else arg.kind
    value = {int: 1, bool: False, float: 1.0, str: arg.choices[0] if arg.choices else "/x"}[kind]
    return [value] if arg.kind is list else value
