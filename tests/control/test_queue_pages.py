"""A large-ish review queue over the real socket: every listing pages on the daemon's
side, the pages add up to the whole in every order, and the loop goes on answering
`status` while the queue is decided and its faces clustered (long work, in steps).

The state is written straight into the database (tests/bench/queue100k.py's build, as
the benchmark makes its 100,000 items), then a real daemon starts on it.
"""

from __future__ import annotations

import select
from contextlib import closing
from pathlib import Path

import pytest

from facewatchd.control import protocol
from facewatchd.control.client import Client
from tests.bench.queue100k import build
from tests.helpers import DaemonProcess

ITEMS, FACES, CENTRES = 20000, 20000, 100


@pytest.fixture(scope="module")
def large(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("large")
    with DaemonProcess(build(root, ITEMS, FACES, CENTRES)) as daemon:
        daemon.ready(300)
        daemon.socket = root / "state" / "facewatchd.sock"
        yield daemon
        assert daemon.stop() == 0


def pages(socket: Path, cmd: str, size: int, **args: object) -> tuple[list[dict], list[int]]:
    """Every item of a paged command, `size` at a time, and the totals each page said."""
    items: list[dict] = []
    totals = []
    with closing(Client(socket)) as client:
        while True:
            page = client.call(cmd, {**args, "limit": size, "offset": len(items)})
            assert page["offset"] == len(items) and len(page["items"]) <= size
            totals.append(page["total"])
            items += page["items"]
            if not page["items"] or len(items) >= page["total"]:
                return items, totals


def test_every_order_pages_into_the_whole_queue(large: DaemonProcess) -> None:
    oldest, totals = pages(large.socket, "review.list", 700)
    assert set(totals) == {ITEMS} and len(oldest) == ITEMS
    ids = [item["id"] for item in oldest]
    assert ids == sorted(ids) and len(set(ids)) == ITEMS
    suggested, _ = pages(large.socket, "review.list", 450, order="suggested")
    at_once, _ = pages(large.socket, "review.list", 1000, order="suggested")
    assert [i["id"] for i in suggested] == [i["id"] for i in at_once]
    assert sorted(i["id"] for i in suggested) == ids
    # "maybe NAME" first: as the page groups them, nearest group first
    with closing(Client(large.socket)) as client:
        page = client.call("review.page", {"order": "suggested", "limit": 50, "offset": 100})
    assert page["total"] == ITEMS and sorted(page["ids"]) == ids
    grouped = sum(g["count"] for g in page["groups"])
    assert grouped
    assert {i["id"] for i in suggested[:grouped]} == {e["id"] for g in page["groups"] for e in g["items"]}
    assert [i["id"] for i in page["items"]] == [i["id"] for i in suggested[100:150]]


def test_clusters_and_sheets_page_too(large: DaemonProcess) -> None:
    with closing(Client(large.socket)) as client:
        first = client.call("clusters", {})
    assert first["total"] > 10 and len(first["items"]) == first["total"]  # under a page
    paged, totals = pages(large.socket, "clusters", 7)
    assert paged == first["items"] and set(totals) == {first["total"]}
    assert [c["size"] for c in paged] == sorted((c["size"] for c in paged), reverse=True)
    sheet, _ = pages(large.socket, "review.sheet", 400, cluster=paged[0]["id"])
    assert sorted(i["id"] for i in sheet) == sorted(paged[0]["items"])
    assert all(any(f["cluster"] for f in item["face_boxes"]) for item in sheet)
    whole, totals = pages(large.socket, "review.sheet", 900)
    assert set(totals) == {ITEMS} and len({i["id"] for i in whole}) == ITEMS


def test_status_is_answered_while_the_queue_is_clustered(large: DaemonProcess) -> None:
    """Clustering 20,000 faces anew (a setting changed: the queue is decided and the
    neighbourhoods made again) is long work: `status` on a second connection is answered again and again
    before the clusters come."""
    # Both connections closed and the setting taken back whatever happens: the daemon
    # serves the module's other tests.
    with closing(Client(large.socket)) as control, closing(Client(large.socket)) as asking:
        control.call("set", {"key": "review.cluster_distance", "value": "0.45"})
        try:
            asking.sock.sendall(protocol.request(1, "clusters", {}))
            answered = 0
            while not select.select([asking.sock], [], [], 0)[0]:
                assert control.call("status", {})["state"] == "running"
                answered += 1
            reply = protocol.parse_response(asking._readline([]))
            assert reply["ok"] and reply["result"]["total"] > 0
            assert answered >= 3, answered
        finally:
            control.call("unset", {"key": "review.cluster_distance"})
    control.close()
