"""The Dask pool ([cluster]) through a real cluster (`dask scheduler` and `dask worker`
processes): results, bounds, send_bytes, path mapping, dead workers, hangs, a stopped
worker, a scheduler that is not there."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from facewatchd.config import ClusterConfig
from facewatchd.engine.report import Signature
from facewatchd.engine.worker import EngineSettings
from facewatchd.errors import UnavailableError

from ..dask_cluster import DaskCluster, free_port

SLOW = Path("video") / "pedestrians_1080p.mp4"  # ~5-10 s of analysis on one core


pytestmark = pytest.mark.usefixtures("dask_required")


@pytest.fixture(scope="module")
def fragile(dask_required: None, tmp_path_factory: pytest.TempPathFactory):
    """One worker, and a scheduler that gives a task up the first time a worker dies
    running it (allowed-failures 0): dead workers show without waiting for four."""
    with DaskCluster(tmp_path_factory.mktemp("fragile"), workers=1,
                     env={"DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "0"}) as c:
        yield c.start()


def pool_for(address: str, timeout: float = 120, fail_fast: bool = False, **cluster: object):
    from facewatchd.engine.cluster import ClusterPool

    return ClusterPool(EngineSettings(), ClusterConfig(address, **cluster), timeout,
                       fail_fast=fail_fast)


def collect_all(pool, n: int, timeout: float = 120) -> dict:
    got: dict = {}
    deadline = time.monotonic() + timeout
    while len(got) < n:
        assert time.monotonic() < deadline, f"{len(got)} of {n} results; {pool.describe()}"
        for key, report in pool.collect(timeout=1):
            assert key not in got, f"{key} came back twice"
            got[key] = report
    return got


def busy_worker(cluster: DaskCluster) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        busy = [name for name, n in cluster.busy().items() if n]
        if busy:
            return busy[0]
        time.sleep(0.2)
    raise AssertionError("no worker took the task")


def same_faces(a, b) -> bool:
    return (a.sha256 == b.sha256 and [f.box for f in a.faces] == [f.box for f in b.faces]
            and all(np.allclose(f.encoding, g.encoding) for f, g in zip(a.faces, b.faces, strict=True)))


def test_reports_match_the_local_engine_each_key_once_with_a_bounded_backlog(
        cluster: DaskCluster, data: Path, engine) -> None:
    photos = sorted(str(p) for p in (data / "people").rglob("*.jp*g"))[:14]
    seen_pending = []
    with pool_for(cluster.address, batch=2, max_tasks=2) as pool:
        pool.wait_connected()
        assert pool.describe()["workers"] == 2 and pool.capacity == 2 * (2 + 1)
        reports = []
        for report in pool.imap(photos):
            seen_pending.append(pool.pending)
            reports.append(report)
        assert pool.describe()["dropped"] == 0
    assert sorted(r.path for r in reports) == photos
    assert max(seen_pending) <= 6
    for report in reports:
        local = engine.analyse(report.path)
        assert same_faces(report, local), report.path
        assert report.signature == Signature.of(os.lstat(report.path))


def test_send_bytes_analyses_what_the_daemon_read_with_its_signature(
        cluster: DaskCluster, data: Path, engine) -> None:
    files = [data / "formats" / "obama2.heic", data / "groups" / "two_people.jpg",
             data / "video" / "hamilton_clip.mp4", data / "no_faces" / "cat.jpg"]
    with pool_for(cluster.address, send_bytes=True) as pool:
        for path in files:
            pool.submit(path, str(path))
        got = collect_all(pool, len(files))
    for path in files:
        report = got[path]
        assert report.error is None and report.path == str(path)
        assert report.signature == Signature.of(os.lstat(path))  # the daemon's, not the memfd's
        assert same_faces(report, engine.analyse(path)), path
    assert got[data / "video" / "hamilton_clip.mp4"].frame_times  # ffmpeg read the memfd


def test_send_bytes_refuses_a_file_over_max_bytes_with_the_reason(
        cluster: DaskCluster, data: Path) -> None:
    clip = data / "video" / "hamilton_clip.mp4"
    with pool_for(cluster.address, send_bytes=True, max_bytes=1000) as pool:
        pool.submit("clip", str(clip))
        (report,) = collect_all(pool, 1).values()
    assert "larger than [cluster] max_bytes" in report.error
    assert report.signature == Signature.of(os.lstat(clip)) and report.sha256  # set aside, known


def test_workers_read_where_path_map_says_with_the_daemons_signature(
        cluster: DaskCluster, data: Path, tmp_path: Path, other_fs: Path) -> None:
    """The daemon's inbound here, the workers' mount on another filesystem (another
    device, other inodes, same content and times, as over NFS)."""
    ours, theirs = tmp_path / "inbound", other_fs / "mnt"
    ours.mkdir()
    theirs.mkdir()
    for name in ("obama.jpg", "obama2.jpg"):
        shutil.copy2(data / "people" / "Barack_Obama" / name, ours / name)
        shutil.copy2(ours / name, theirs / name)  # copy2 keeps mtime to the nanosecond
    (ours / "only_here.jpg").write_bytes((ours / "obama.jpg").read_bytes())
    with pool_for(cluster.address, path_map={f"{ours}/": str(theirs)}) as pool:
        for name in ("obama.jpg", "obama2.jpg", "only_here.jpg"):
            pool.submit(name, str(ours / name))
        got = collect_all(pool, 3)
    for name in ("obama.jpg", "obama2.jpg"):
        assert got[name].error is None and len(got[name].faces) == 1
        assert got[name].path == str(ours / name)
        assert got[name].signature == Signature.of(os.lstat(ours / name))  # movable by the daemon
    # Not on the workers' mount: never opened there, so it is left in inbound, not failed.
    assert got["only_here.jpg"].signature is None and "cannot open" in got["only_here.jpg"].error


def test_a_batch_whose_worker_dies_is_split_and_every_file_comes_back(
        fragile: DaskCluster, data: Path) -> None:
    files = [str(data / SLOW)] + sorted(str(p) for p in (data / "people" / "Joe_Biden").iterdir())
    with pool_for(fragile.address, batch=len(files), max_tasks=1) as pool:
        for path in files:
            pool.submit(path, path)
        fragile.kill_worker(busy_worker(fragile))  # allowed-failures 0: KilledWorker at once
        got = collect_all(pool, len(files))
    assert sorted(got) == sorted(files)
    assert all(r.error is None and r.faces for r in got.values()), {k: r.error for k, r in got.items()}


def test_a_file_whose_workers_keep_dying_is_given_up_and_the_pool_goes_on(
        fragile: DaskCluster, data: Path) -> None:
    with pool_for(fragile.address, batch=1) as pool:
        pool.submit("clip", str(data / SLOW))
        fragile.kill_worker(busy_worker(fragile))
        (report,) = collect_all(pool, 1).values()
        assert report.abandoned and "workers analysing it died" in report.error
        assert report.signature is None  # the sorter identifies it and sets it aside in failed/
        pool.submit("photo", str(data / "people" / "Barack_Obama" / "obama.jpg"))
        (report,) = collect_all(pool, 1).values()
        assert report.faces


def test_a_batch_stuck_on_a_stopped_worker_is_split_and_each_file_comes_back(
        fragile: DaskCluster, data: Path) -> None:
    """Its worker SIGSTOPped (as when dlib is stuck holding the GIL, and the worker's own
    time limit cannot fire): the batch is given up after its files' time limits and a
    grace, that worker removed (it has no nanny), and each file, sent alone once a worker
    is there again, comes back analysed: none is blamed for a batch."""
    photos = sorted(str(p) for p in (data / "people" / "Joe_Biden").iterdir())[:2]
    with pool_for(fragile.address, timeout=2, batch=2, max_tasks=1) as pool:
        pool.submit("first", photos[0])
        collect_all(pool, 1)  # the models loaded there (the plugin registered): it was working
        fragile.pause_workers()
        try:
            started = time.monotonic()
            for path in photos:
                pool.submit(path, path)
            while pool.describe()["workers"]:  # until the stuck worker is removed
                assert time.monotonic() - started < 60, pool.describe()
                time.sleep(0.2)
            assert time.monotonic() - started > 2 * 2
            assert pool.collect(timeout=1) == [] and pool.pending == 2  # waiting for a worker
        finally:
            fragile.resume_workers()
        got = collect_all(pool, len(photos))
    assert sorted(got) == photos
    assert all(r.error is None and r.faces for r in got.values()), {k: r.error for k, r in got.items()}


def test_a_file_that_takes_too_long_is_abandoned(cluster: DaskCluster, data: Path) -> None:
    with pool_for(cluster.address, timeout=0.5) as pool:
        started = time.monotonic()
        pool.submit("clip", str(data / SLOW))
        (report,) = collect_all(pool, 1).values()
    assert report.abandoned and "longer than 0.5 s" in report.error
    assert time.monotonic() - started < 10


def test_no_scheduler_is_a_state_then_work_resumes_when_one_comes(
        data: Path, tmp_path: Path) -> None:
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    with pool_for(address, fail_fast=True, connect_timeout=1) as pool:
        with pytest.raises(UnavailableError, match=f"cannot reach the Dask scheduler at {address}"):
            pool.wait_connected()
    with pool_for(address, connect_timeout=1, reconnect_max=2) as pool:
        photo = str(data / "people" / "Barack_Obama" / "obama.jpg")
        pool.submit("photo", photo)
        assert pool.collect(timeout=3) == []
        d = pool.describe()
        assert d["state"] == "unreachable" and address in d["error"] and pool.pending == 1
        with DaskCluster(tmp_path / "late", workers=1, port=port) as late:
            late.start(wait=False)
            (report,) = collect_all(pool, 1, timeout=90).values()
            assert report.faces and pool.describe()["state"] == "connected"


def test_path_map_replaces_the_longest_whole_folder_prefix() -> None:
    from facewatchd.engine.cluster.batch import map_path

    m = {"/srv/photos": "/mnt/p", "/srv/photos/archive/": "/nfs/a/", "/srv/ph": "/x"}
    assert map_path("/srv/photos/in/a.jpg", m) == "/mnt/p/in/a.jpg"
    assert map_path("/srv/photos/archive/b.jpg", m) == "/nfs/a/b.jpg"
    assert map_path("/srv/photosX/c.jpg", m) == "/srv/photosX/c.jpg"  # not that folder
    assert map_path("/other/d.jpg", m) == "/other/d.jpg"  # the same path on the workers
