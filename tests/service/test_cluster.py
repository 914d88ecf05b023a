"""`[cluster]` end to end: the real `facewatchd --oneshot` and daemon against a real
Dask cluster (`dask scheduler` and two `dask worker` processes on 127.0.0.1).

- a oneshot run sorts every file exactly where the local pool puts it;
- kill -9 of a worker in the middle of a run (bytes sent by the daemon) loses,
  duplicates and changes nothing;
- an unreachable scheduler at the start of --oneshot: one line, exit 69, nothing moved;
- the daemon sorts files dropped while it watches, says in status when the scheduler is
  lost, keeps new files in inbound meanwhile, and sorts them once it is back.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from facewatchd.state import DB_NAME

from ..dask_cluster import DaskCluster, free_port
from ..helpers import (
    ROOT,
    SETTLE,
    DaemonProcess,
    add_references,
    facewatchd,
    files_under,
    sha256,
    wait_until,
    write_config,
)


def cluster_section(address: str, **keys: object) -> str:
    keys = {"scheduler": address, "connect_timeout": 3, "reconnect_max": 2, **keys}
    lines = [f"{k} = {json.dumps(v)}" for k, v in keys.items()]
    return "[cluster]\n" + "\n".join(lines) + "\n"


def fill(root: Path, data: Path) -> dict[str, str]:
    """References, and an inbound like the oneshot test's, a little smaller (two probes
    a person, not the 1080p clip) and with no two files alike, so which of two copies
    is 'the first' cannot differ between runs. Returns path -> hash."""
    probes = add_references(data, root / "references")
    inbound = root / "inbound"
    (inbound / "people").mkdir(parents=True, exist_ok=True)
    for person, photos in probes.items():
        for photo in photos[:2]:
            shutil.copy2(photo, inbound / "people" / f"{person}--{photo.name}")
    for section in ("groups", "no_faces", "video", "formats"):
        shutil.copytree(data / section, inbound / section,
                        ignore=shutil.ignore_patterns("pedestrians_1080p.mp4"))
    obama = data / "people" / "Barack_Obama" / "obama.jpg"
    (inbound / "broken").mkdir()
    (inbound / "broken" / "truncated.jpg").write_bytes(obama.read_bytes()[:20000])
    (inbound / "broken" / "text.jpg").write_text("not a photo\n")
    return {p.relative_to(inbound).as_posix(): sha256(p) for p in files_under(inbound)}


def placements(root: Path) -> dict[str, tuple]:
    """Each input file: where it went and why, relative to `root`, from the ledger."""
    db = sqlite3.connect(root / "state" / DB_NAME)
    db.row_factory = sqlite3.Row
    rows = db.execute("SELECT * FROM files WHERE state = 'done'").fetchall()
    rel = lambda p: os.path.relpath(p, root)  # noqa: E731
    # References are numbered as their reports come back: name them by their photo.
    refs = {r["id"]: rel(r["path"]) for r in db.execute("SELECT id, path FROM refs")}
    db.close()
    result = {}
    for row in rows:
        source = rel(row["source"])
        assert source not in result, f"{source} sorted twice"
        evidence = json.loads(row["evidence"])
        faces = [{**f, "reference": refs.get(f.get("reference"))} for f in evidence["faces"]]
        result[source] = (row["outcome"], row["reason"], tuple(json.loads(row["persons"])),
                          rel(row["target"]), tuple(sorted(map(rel, json.loads(row["links"])))),
                          json.dumps(faces, sort_keys=True),
                          re.sub(r" at 0x[0-9a-f]+", "", evidence["rule"]))
    return result


def each_hash_once(root: Path, before: dict[str, str]) -> None:
    """Every input file's content in exactly one place, nothing left behind or extra."""
    db = sqlite3.connect(root / "state" / DB_NAME)
    rows = db.execute("SELECT target, sha256 FROM files WHERE state = 'done'").fetchall()
    db.close()
    for target, digest in rows:
        assert sha256(Path(target)) == digest, target
    assert Counter(d for _, d in rows) == Counter(before.values())
    assert not files_under(root / "inbound")
    on_disk = files_under(root / "sorted", root / "review")
    assert len(on_disk) >= len(rows) and not [p for p in on_disk if ".facewatchd-" in p.name]


pytestmark = pytest.mark.usefixtures("dask_required")


@pytest.fixture(scope="module")
def local_run(data: Path, tmp_path_factory: pytest.TempPathFactory):
    """The reference: the same files sorted with the local worker pool."""
    root = tmp_path_factory.mktemp("local")
    config = write_config(root)
    before = fill(root, data)
    result = facewatchd("--config", config, "--oneshot")
    assert result.returncode == 0, result.stderr
    assert "analysis: this machine, 2 worker processes" in result.stdout
    return placements(root), before


def test_oneshot_on_the_cluster_sorts_everything_where_the_local_pool_does(
        cluster: DaskCluster, local_run, data: Path, tmp_path: Path) -> None:
    expected, before = local_run
    config = write_config(tmp_path, extra=cluster_section(cluster.address, batch=3))
    assert fill(tmp_path, data) == before
    result = facewatchd("--config", config, "--oneshot")
    assert result.returncode == 0, result.stderr
    assert f"analysis: Dask scheduler {cluster.address}, 2 workers (2 threads)" in result.stdout
    assert "Traceback" not in result.stderr
    assert placements(tmp_path) == expected
    each_hash_once(tmp_path, before)


def test_a_worker_killed_mid_run_loses_duplicates_and_changes_nothing(
        cluster: DaskCluster, local_run, data: Path, tmp_path: Path) -> None:
    expected, before = local_run
    config = write_config(tmp_path, extra=cluster_section(cluster.address, batch=2,
                                                          send_bytes=True))
    fill(tmp_path, data)
    started = cluster.started
    with (tmp_path / "oneshot.log").open("w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "facewatchd", "--config", str(config),
                                 "--oneshot"], stdout=subprocess.PIPE, stderr=log, text=True,
                                cwd=ROOT)
    try:
        deadline = time.monotonic() + 120
        while len(files_under(tmp_path / "sorted", tmp_path / "review")) < 10:
            assert proc.poll() is None and time.monotonic() < deadline, \
                (tmp_path / "oneshot.log").read_text()
            time.sleep(0.2)
        busy = []
        while not busy:  # a worker in the middle of a task
            assert time.monotonic() < deadline
            busy = [name for name, n in cluster.busy().items() if n]
        cluster.kill_worker(busy[0])
        assert len(files_under(tmp_path / "inbound")) > 10  # mid-run indeed
        out, _ = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, (tmp_path / "oneshot.log").read_text()
    assert cluster.started > started  # the kill happened (and the worker came back)
    assert placements(tmp_path) == expected
    each_hash_once(tmp_path, before)
    cluster.wait_for_workers(2)


def test_an_unreachable_scheduler_at_oneshot_start_is_one_line_and_nothing_moves(
        data: Path, tmp_path: Path) -> None:
    address = f"tcp://127.0.0.1:{free_port()}"
    config = write_config(tmp_path, extra=cluster_section(address, connect_timeout=1))
    (tmp_path / "references" / "Joe_Biden").mkdir()
    shutil.copy2(data / "people" / "Joe_Biden" / "biden.jpg", tmp_path / "references" / "Joe_Biden")
    shutil.copy2(data / "people" / "Joe_Biden" / "biden2.jpg", tmp_path / "inbound" / "b.jpg")
    result = facewatchd("--config", config, "--oneshot", timeout=60)
    assert result.returncode == 69
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"facewatchd: cannot reach the Dask scheduler at {address}: "), line
    assert [p.name for p in files_under(tmp_path / "inbound")] == ["b.jpg"]
    assert not files_under(tmp_path / "sorted", tmp_path / "review")


def test_the_daemon_sorts_on_the_cluster_and_survives_the_scheduler_restarting(
        data: Path, tmp_path: Path) -> None:
    with DaskCluster(tmp_path / "dask") as dask:
        dask.start()
        config = write_config(tmp_path, daemon=SETTLE, extra=cluster_section(dask.address))
        for person, photo in (("Barack_Obama", "obama.jpg"), ("Joe_Biden", "biden.jpg")):
            (tmp_path / "references" / person).mkdir()
            shutil.copy2(data / "people" / person / photo, tmp_path / "references" / person)
        inbound = tmp_path / "inbound"
        with DaemonProcess(config) as daemon:
            daemon.ready()
            assert daemon.status()["references"] == {"Barack_Obama": 1, "Joe_Biden": 1}
            shutil.copy(data / "people" / "Barack_Obama" / "obama2.jpg", inbound / "o.jpg")
            shutil.copy(data / "people" / "Joe_Biden" / "biden2.jpg", inbound / "b.jpg")
            shutil.copy(data / "no_faces" / "cat.jpg", inbound / "cat.jpg")
            status = daemon.wait_idle(3)
            assert sorted(p.relative_to(tmp_path).as_posix() for p in files_under(
                tmp_path / "sorted", tmp_path / "review")) == [
                "review/cat.jpg", "sorted/Barack_Obama/o.jpg", "sorted/Joe_Biden/b.jpg"]
            analysis = status["analysis"]
            assert (analysis["mode"], analysis["scheduler"], analysis["state"]) == (
                "cluster", dask.address, "connected")
            assert analysis["workers"] == status["workers"] == 2
            assert f"analysis: Dask scheduler {dask.address}, 2 workers" in daemon.ctl("status").stdout

            dask.kill_scheduler()  # its workers end too; the watcher starts them again
            deadline = time.monotonic() + 30
            while (analysis := daemon.status()["analysis"])["state"] == "connected":
                assert time.monotonic() < deadline, analysis
                time.sleep(0.2)
            assert analysis["state"] == "lost"
            assert f"lost the Dask scheduler at {dask.address}" in analysis["error"]
            shutil.copy(data / "people" / "Barack_Obama" / "obama1.jpg", inbound / "o1.jpg")
            shutil.copy(data / "groups" / "two_people.jpg", inbound / "two.jpg")
            time.sleep(4)
            status = daemon.status()
            assert sorted(p.name for p in files_under(inbound)) == ["o1.jpg", "two.jpg"]
            assert status["in_flight"] == 2 and status["processed"] == 3
            assert status["analysis"]["state"] == "lost"
            assert "LOST" in daemon.ctl("status").stdout
            assert any("Dask scheduler LOST" in f for f in daemon.notify.fields())

            dask.start_scheduler()  # same port
            status = daemon.wait_idle(5, timeout=120)
            assert not files_under(inbound)
            assert (tmp_path / "sorted" / "Barack_Obama" / "o1.jpg").exists()
            assert sorted(p.parent.name for p in tmp_path.glob("sorted/*/two.jpg")) == [
                "Barack_Obama", "Joe_Biden"]
            assert status["analysis"]["state"] == "connected"
            assert status["analysis"]["reconnects"] >= 1 and status["worker_restarts"] >= 1
            assert daemon.stop() == 0
        log = daemon.log.read_text()
        assert "lost the Dask scheduler" in log and "Traceback" not in log


def answers(config: Path, commands: dict[str, list[str | Path]], timeout: float
            ) -> dict[str, tuple[int | None, str, float]]:
    """Run facewatchctl commands at once; each: (exit status, or None if it had not answered
    within `timeout` s; what it printed; seconds taken)."""
    started = time.monotonic()
    procs = {name: subprocess.Popen([sys.executable, "-m", "facewatchd.control.ctl", "--config",
                                     str(config), *map(str, args)], stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True, cwd=ROOT)
             for name, args in commands.items()}
    got: dict[str, tuple[int | None, str, float]] = {}
    for name, proc in procs.items():
        try:
            out, _ = proc.communicate(timeout=max(0.1, started + timeout - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
            got[name] = (None, out, time.monotonic() - started)
        else:
            got[name] = (proc.returncode, out, time.monotonic() - started)
    return got


def test_a_file_stuck_on_a_worker_is_given_up_at_its_time_limit_as_the_local_pool_does(
        cluster: DaskCluster, data: Path, tmp_path: Path) -> None:
    """Every worker SIGSTOPped mid-file: analysis stuck in dlib, which holds the GIL, so the
    worker's own time limit never fires. The daemon gives the file up after `file_timeout`
    (and a grace for the task's way there and back): set aside in failed/, and `test`
    answered, as the local pool does; with the workers back it sorts again."""
    limit = 4
    config = write_config(tmp_path, daemon=SETTLE, extra=cluster_section(cluster.address),
                          file_timeout=limit)
    (tmp_path / "references" / "Barack_Obama").mkdir()
    shutil.copy2(data / "people" / "Barack_Obama" / "obama.jpg", tmp_path / "references" / "Barack_Obama")
    probe = tmp_path / "sorted" / "probe.jpg"
    shutil.copy(data / "people" / "Joe_Biden" / "biden.jpg", probe)
    with DaemonProcess(config) as daemon:
        daemon.ready()
        cluster.pause_workers()
        try:
            started = time.monotonic()
            shutil.copy(data / "people" / "Joe_Biden" / "biden2.jpg", tmp_path / "inbound" / "b.jpg")
            failed = tmp_path / "review" / "failed" / "b.jpg"
            while not failed.exists():
                assert time.monotonic() - started < 60, daemon.status()
                time.sleep(0.2)
            assert time.monotonic() - started >= limit
            assert daemon.status()["failed"] == 1
            # Then, with its worker gone, the other one (stopped too) gets the next file.
            got = answers(config, {"test": ["--json", "test", probe]}, timeout=60)
            code, out, _ = got["test"]
            assert code == 0, (got, daemon.log.read_text()[-3000:])
            answer = json.loads(out)
            assert answer["outcome"] == "left" and f"longer than {limit} s" in answer["rule"], answer
        finally:
            cluster.resume_workers()
        cluster.wait_for_workers(2)
        shutil.copy(data / "people" / "Barack_Obama" / "obama2.jpg", tmp_path / "inbound" / "o.jpg")
        daemon.wait_idle(2, timeout=120)
        assert (tmp_path / "sorted" / "Barack_Obama" / "o.jpg").exists()
        assert daemon.stop() == 0
    log = daemon.log.read_text()
    assert f"longer than {limit} s" in log and "Traceback" not in log


def test_with_the_scheduler_lost_test_enroll_reload_and_scan_answer_in_bounded_time(
        data: Path, tmp_path: Path) -> None:
    """The scheduler killed: each command that needs analysis answers `unavailable` (exit
    69) once no worker has been there for three connect_timeouts (here 3 s each), instead
    of waiting for ever; the daemon stays, and works again once the scheduler is back."""
    with DaskCluster(tmp_path / "dask", workers=1) as dask:
        dask.start()
        config = write_config(tmp_path, daemon=SETTLE, extra=cluster_section(dask.address))
        (tmp_path / "references" / "Barack_Obama").mkdir()
        shutil.copy2(data / "people" / "Barack_Obama" / "obama.jpg", tmp_path / "references" / "Barack_Obama")
        probe, kit = tmp_path / "sorted" / "probe.jpg", tmp_path / "sorted" / "kit.jpeg"
        shutil.copy(data / "people" / "Joe_Biden" / "biden2.jpg", probe)
        shutil.copy(data / "people" / "Kit_Harington" / "john1.jpeg", kit)
        with DaemonProcess(config) as daemon:
            daemon.ready()
            dask.kill_scheduler()
            deadline = time.monotonic() + 30
            while daemon.status()["analysis"]["state"] == "connected":
                assert time.monotonic() < deadline
                time.sleep(0.2)
            # Something for each to wait on: a new reference photo for reload, a file in
            # flight for scan.
            (tmp_path / "references" / "Joe_Biden").mkdir()
            shutil.copy2(data / "people" / "Joe_Biden" / "biden.jpg", tmp_path / "references" / "Joe_Biden")
            shutil.copy(data / "people" / "Barack_Obama" / "obama2.jpg", tmp_path / "inbound" / "o.jpg")
            while daemon.status()["in_flight"] != 1:
                assert time.monotonic() < deadline
                time.sleep(0.2)
            got = answers(config, {"test": ["test", probe], "enroll": ["enroll", "Kit_Harington", kit],
                                   "reload": ["reload"], "scan": ["--json", "scan"]}, timeout=30)
            assert {name: code for name, (code, _, _) in got.items()} == dict.fromkeys(got, 69), got
            for name, (_, out, _) in got.items():
                assert f"Dask scheduler at {dask.address}" in out, (name, out)
            assert daemon.proc.poll() is None
            assert daemon.status()["analysis"]["state"] == "lost"

            dask.start_scheduler()  # same port
            daemon.wait_idle(1, timeout=120)
            assert (tmp_path / "sorted" / "Barack_Obama" / "o.jpg").exists()
            # The cluster thread sees the workers back within a look or two at the connection.
            wait_until(lambda: daemon.status()["analysis"]["unavailable"] is None, 30,
                       why=daemon.status)
            assert json.loads(daemon.ctl("--json", "reload").stdout)["added"] == 1
            assert json.loads(daemon.ctl("--json", "test", probe).stdout)["persons"] == ["Joe_Biden"]
            assert daemon.stop() == 0
        assert "Traceback" not in daemon.log.read_text()
