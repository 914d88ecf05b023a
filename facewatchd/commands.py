"""What each control command does. Returns data; facewatchctl decides how it looks.

The names are protocol.COMMANDS' with dots as underscores: `reference.disable` is
`do_reference_disable`. A handler returns its answer, or is a generator: then it
runs as a task (tasks.py) a step at a time, waiting for analyses or for a reload
where it yields, and its return value is answered when it ends.
"""

from __future__ import annotations

import base64
import dataclasses
import inspect
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Generator

from . import protocol
from .cluster import Cluster, cluster_number, clusters
from .control import Connection, Peer
from .enroll import the_face
from .errors import FacewatchError, RefusedError, RouteError, UsageError
from .protocol import ProtocolError, Request
from .review import Item, ReviewQueue, valid_person_name
from .sorter import evidence
from .tasks import Analyse, Step
from .undo import Undo, parse_since

if TYPE_CHECKING:
    from .daemon import Daemon

ORIGIN_CTL = "ctl"
ORIGIN_CLUSTER = "cluster"
MAX_PAGE = 1000  # items of a listing in one answer; facewatchctl fetches the pages in turn


class Commands:
    """The control socket's handler: dispatches through the command table."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon

    def __call__(self, conn: Connection, request: Request) -> bytes | None:
        method = getattr(self, "do_" + request.cmd.replace(".", "_").replace("-", "_"))
        self.peer = conn.peer
        try:
            result = method(**request.args)
        except FacewatchError as e:
            raise ProtocolError(e.code, str(e)) from None
        if not inspect.isgenerator(result):
            return protocol.ok(request.id, result)

        def answer(value: Any, error: BaseException | None) -> None:
            if error is None:
                line = protocol.ok(request.id, value)
            elif isinstance(error, FacewatchError):
                line = protocol.error(request.id, error.code, str(error))
            else:
                line = protocol.error(request.id, protocol.INTERNAL, f"{type(error).__name__}: {error}")
            self.daemon.control.reply(conn, line)

        self.daemon.tasks.start(request.cmd, result, answer)
        return None

    def do_status(self) -> dict[str, Any]:
        return self.daemon.status()

    def do_persons(self) -> list[dict[str, Any]]:
        return self.daemon.store.persons()

    def do_references(self, person: str | None = None) -> list[dict[str, Any]]:
        refs = [dataclasses.asdict(r) for r in self.daemon.store.references()
                if person is None or r.person == person]
        if person is not None and not refs:
            raise ProtocolError(protocol.NOT_FOUND, f"no references of {person!r}")
        return refs

    def do_reference_disable(self, id: int) -> Step:
        return self._set_active(id, False)

    def do_reference_enable(self, id: int) -> Step:
        return self._set_active(id, True)

    def _set_active(self, ref_id: int, active: bool) -> Step:
        if not self.daemon.store.set_reference_active(ref_id, active):
            raise ProtocolError(protocol.NOT_FOUND, f"no reference {ref_id}")
        filed = yield from self.daemon.references_changed()
        return {"id": ref_id, "active": active, "filed": filed}

    def do_why(self, path: str | None = None, item: int | None = None) -> dict[str, Any]:
        if (path is None) == (item is None):
            raise UsageError("why needs a path or a review item's id")
        if item is not None:
            found = self.review.items(ids=[item]) or self.review.items(ids=[item], deleted=True)
            if not found:
                raise ProtocolError(protocol.NOT_FOUND, f"no item {item} in review")
            return dataclasses.asdict(found[0].entry)
        entry = self.daemon.store.entry_for_path(os.path.normpath(path))
        if entry is None:
            raise ProtocolError(protocol.NOT_FOUND, f"the ledger has no file at {path}")
        return dataclasses.asdict(entry)

    def do_scan(self, path: str | None = None) -> dict[str, Any]:
        if path is None:
            self.daemon.scan_all("asked by facewatchctl")
            self.daemon.retry_now()
            return {"scanning": [str(w.inbound) for w in self.daemon.config.watches]}
        folder = Path(os.path.normpath(path))
        watch = self.daemon.sorter.watch_for(folder)
        if watch is None or not folder.is_dir():
            raise ProtocolError(protocol.NOT_ALLOWED, f"{path} is not a folder in an inbound folder")
        self.daemon.add_scan(str(folder), folder, watch.recursive)
        return {"scanning": [str(folder)]}

    def do_reload(self) -> Step:
        summary = yield self.daemon.request_reload()
        return dataclasses.asdict(summary)

    def do_test(self, file: str) -> Step:
        return self._test(self._readable(file))  # checked now, for the peer asking now

    def _test(self, path: str) -> Step:
        (report,) = yield Analyse((path,))
        if report.signature is None:
            return {"file": report.path, "outcome": "left", "rule": report.error, "faces": []}
        sorter = self.daemon.sorter
        # As if it had arrived in (the first) inbound folder: the sorter's own routing.
        plan = sorter.plan(report, sorter.watch_for(Path(path)) or self.daemon.config.watches[0])
        folders = [plan.folder, *plan.also] if plan.folder else []
        here = sorter.store.current_at(path)  # the daemon put it where it is now
        known = None if here is None or here.sha256 != report.sha256 else {
            "outcome": here.outcome, "reason": here.reason, "item": here.item_id,
            "persons": here.persons}
        return {**plan.record, "file": report.path, "outcome": plan.outcome, "known": known,
                "reason": plan.reason, "persons": list(plan.decision.persons),
                "rule": plan.why if plan.outcome == "left" else plan.record["rule"],
                "folders": [str(f) for f in folders],
                "duplicate_of": plan.original.target if plan.original else None}

    def do_enroll(self, person: str, files: list[str]) -> Step:
        valid_person_name(person)
        return self._enroll(person, list(dict.fromkeys(self._readable(f) for f in files)))

    def _enroll(self, person: str, paths: list[str]) -> Step:
        reports = yield Analyse(tuple(paths))
        store = self.daemon.store
        results = []
        for report in reports:
            face, why = the_face(report)
            known = [r for r in store.references() if (r.person, r.sha256) == (person, report.sha256)]
            if known:
                ref = known[0]
                why = f"already reference {ref.id}" + ("" if ref.active else (
                    f", disabled: `facewatchctl reference enable {ref.id}` uses it again"))
                results.append({"file": report.path, "added": False, "why": why})
            elif face is None:
                results.append({"file": report.path, "added": False, "why": why})
            else:
                ref = store.add_reference(person, ORIGIN_CTL, report.path, report.sha256,
                                          face.box, face.encoding)
                results.append({"file": report.path, "added": True, "id": ref})
        filed = yield from self.daemon.references_changed()
        return {"person": person, "files": results, "filed": filed}

    def _readable(self, file: str) -> str:
        """A file the daemon may read for this client: only inside the daemon's own
        folders, and only one the client could read itself. Whether a path exists is
        said only once the client may look there."""
        path = os.path.normpath(file)
        if not os.path.isabs(path):
            raise ProtocolError(protocol.BAD_ARGS, f"{file}: give an absolute path")
        config = self.daemon.config
        folders = [config.recognition.references] + [
            folder for w in config.watches for folder in (w.inbound, w.destination_root, w.review)]
        real = Path(os.path.realpath(path))
        if not any(real.is_relative_to(os.path.realpath(f)) for f in folders):
            raise ProtocolError(protocol.NOT_ALLOWED,
                                f"{file}: facewatchd reads files only in its own folders (references, "
                                f"inbound, destinations, review); copy it into one of them")
        if not _may_read(self.peer, real):
            raise ProtocolError(protocol.NOT_ALLOWED, f"{file}: you may not read it")
        if not os.path.lexists(path):
            raise ProtocolError(protocol.NOT_FOUND, f"{file}: no such file")
        return path

    # The review queue

    @property
    def review(self) -> ReviewQueue:
        return ReviewQueue(self.daemon.sorter)

    def do_review_list(self, reason: str | None = None, person: str | None = None,
                       limit: int | None = None, offset: int = 0,
                       deleted: bool = False) -> dict[str, Any]:
        """A page of the items (at most MAX_PAGE), and how many there are in all."""
        limit = MAX_PAGE if limit is None else min(limit, MAX_PAGE)
        items, total = self.review.page(reason=reason, person=person, limit=limit,
                                        offset=offset, deleted=deleted)
        return {"items": [item.as_dict() for item in items], "total": total, "offset": offset}

    def _batch(self, action: Callable[..., dict[str, Any]], ids: list[int] | None, all: bool,
               reason: str | None, nearest: str | None, limit: int | None, *,
               deleted: bool = False, **kwargs: Any) -> Generator[None, None, list[dict[str, Any]]]:
        """Run `action` on each selected item, a step each; one result per item,
        failures included."""
        results = []
        for item in self.review.select(ids, all, deleted=deleted, reason=reason, person=nearest,
                                       limit=limit):
            if isinstance(item, tuple):
                results.append({"id": item[0], "ok": False, "error": item[1]})
                continue
            try:
                results.append(action(item, **kwargs))
            except (RefusedError, RouteError) as e:
                results.append({"id": item.id, "ok": False, "error": str(e)})
            yield
        return results

    def do_review_keep(self, ids: list[int] | None = None, all: bool = False,
                       reason: str | None = None, nearest: str | None = None,
                       limit: int | None = None, person: str | None = None,
                       to: str | None = None, new_person: bool = False) -> Step:
        if (person is None) == (to is None):
            raise UsageError("say where to: --person NAME or --to DIR")
        if person is not None and not new_person and not self._known(person):
            known = ", ".join(p["name"] for p in self.daemon.store.persons()) or "nobody yet"
            raise UsageError(f"{person!r} is not a known person (known: {known}); "
                             f"to file it under someone new, add --new-person")
        results = yield from self._batch(self.review.keep, ids, all, reason, nearest, limit,
                                         person=person, to=to)
        return {"results": results}

    def _known(self, person: str) -> bool:
        """Someone with references, settings, or a folder already."""
        config = self.daemon.config
        return (person in config.persons or any(p["name"] == person for p in self.daemon.store.persons())
                or any(w.destination_for(person).is_dir() for w in config.watches))

    def do_review_add_reference(self, person: str, ids: list[int] | None = None, all: bool = False,
                                reason: str | None = None, nearest: str | None = None,
                                limit: int | None = None, face: int | None = None) -> Step:
        valid_person_name(person)
        results = yield from self._batch(self.review.teach, ids, all, reason, nearest, limit,
                                         person=person, face=face)
        filed = (yield from self.daemon.references_changed()) if any(r["ok"] for r in results) else []
        return {"results": results, "filed": filed}

    def do_review_delete(self, ids: list[int] | None = None, all: bool = False,
                         reason: str | None = None, nearest: str | None = None,
                         limit: int | None = None) -> Step:
        results = yield from self._batch(self.review.delete, ids, all, reason, nearest, limit)
        return {"results": results}

    def do_review_restore(self, ids: list[int] | None = None, all: bool = False,
                          reason: str | None = None, nearest: str | None = None,
                          limit: int | None = None) -> Step:
        results = yield from self._batch(self.review.restore, ids, all, reason, nearest, limit,
                                         deleted=True)
        return {"results": results}

    def do_review_sheet(self, cluster: str | None = None, reason: str | None = None,
                        limit: int | None = None) -> list[dict[str, Any]]:
        """The items with their faces, for a contact sheet; thumbnails come separately."""
        items = self.review.items(reason=reason)
        marked: dict[int, set[int]] = {}
        if cluster is not None:
            found = self._cluster(cluster, items)
            marked = {i: {f.index for it, f in found.faces if it.id == i} for i in found.items}
            items = [item for item in items if item.id in marked]
        return [self._sheet_entry(item, marked.get(item.id, set())) for item in items[:limit]]

    @staticmethod
    def _sheet_entry(item: Item, in_cluster: set[int]) -> dict[str, Any]:
        verdicts = {v.face: v for v in item.decision.faces}
        faces = []
        for face in item.faces:
            v = verdicts.get(face.index)
            faces.append({"n": face.index + 1, "box": list(face.box), "time": face.time,
                          "person": v and v.person, "distance": v and v.distance,
                          "matched": bool(v and v.matched), "cluster": face.index in in_cluster})
        return {**item.as_dict(), "size": item.entry.evidence.get("size"), "face_boxes": faces}

    def do_review_thumbnails(self, ids: list[int]) -> dict[str, Any]:
        """Item id → {"jpeg": base64, "time": seconds into a video or None}, at most 100."""
        if len(ids) > 100:
            raise UsageError("at most 100 thumbnails at a time")
        found = {}
        for item in self.review.items(ids=ids):
            thumbnail = self.daemon.store.thumbnail(item.entry.sha256)
            if thumbnail is not None:
                found[str(item.id)] = {"jpeg": base64.b64encode(thumbnail[0]).decode(),
                                       "time": thumbnail[1]}
        return found

    # Clusters of unknown faces

    def _clusters(self, items: list[Item] | None = None) -> list[Cluster]:
        review = self.daemon.config.review
        return clusters(self.review.items() if items is None else items, review.cluster_distance,
                        review.cluster_min_size, self.daemon.store.ignored_faces())

    def _cluster(self, name: str, items: list[Item] | None = None) -> Cluster:
        number = cluster_number(name)
        for cluster in self._clusters(items):
            if cluster.id == number:
                return cluster
        raise ProtocolError(protocol.NOT_FOUND, f"no cluster {name} (run `clusters` again:"
                                                " the queue has changed)")

    def do_clusters(self) -> list[dict[str, Any]]:
        return [cluster.as_dict() for cluster in self._clusters()]

    def do_clusters_name(self, id: str, person: str) -> Step:
        valid_person_name(person)
        cluster = self._cluster(id)
        taught: dict[str, list[int]] = {}
        with self.daemon.store.transaction():
            for item, face in cluster.faces:
                ref = self.daemon.store.add_reference(person, ORIGIN_CLUSTER, str(item.path),
                                                      face.sha256, face.box, face.encoding)
                taught.setdefault(face.sha256, []).append(ref)
        moved = yield from self.daemon.references_changed(taught)
        return {"id": cluster.name, "person": person, "references": sum(map(len, taught.values())),
                "moved": moved, "items": cluster.items}

    def do_clusters_ignore(self, id: str) -> dict[str, Any]:
        cluster = self._cluster(id)
        self.daemon.store.ignore_faces([face.id for _, face in cluster.faces])
        return {"id": cluster.name, "ignored": len(cluster.faces)}

    # Undo

    def do_undo(self, path: str | None = None, since: str | None = None,
                dry_run: bool = False) -> Step:
        if (path is None) == (since is None):
            raise UsageError("undo one file (PATH) or everything since a time (--since), not both")
        undo = Undo(self.daemon.sorter)
        if path is not None:
            return {"results": [undo.path(path, dry_run)], "dry_run": dry_run}
        return {"results": (yield from undo.since(parse_since(since), dry_run)), "dry_run": dry_run}

    # Files an undo put back in inbound

    def do_held(self) -> list[dict[str, Any]]:
        sorter = self.daemon.sorter
        return [{"path": str(path), "since": self.daemon.store.entry(sorter.held[str(path)][2]).updated}
                for path in sorter.held_files()]

    def do_release(self, paths: list[str] | None = None, all: bool = False) -> dict[str, Any]:
        sorter = self.daemon.sorter
        if all == bool(paths):
            raise UsageError("name the held files, or give --all, not both")
        chosen = sorter.held_files() if all else [Path(os.path.normpath(p)) for p in paths or ()]
        results = []
        for path in chosen:
            if sorter.release(path):
                self.daemon.settler.offer(path, now=0.0)  # sorted as soon as it is quiet
                results.append({"path": str(path), "ok": True})
            else:
                results.append({"path": str(path), "ok": False, "error": "not held"})
        return {"results": results}


def _may_read(peer: Peer, path: Path) -> bool:
    """Whether `peer` could open `path` for reading itself: search permission on every
    folder above it, then read permission on the file (when it exists: whether it does
    is said only to a peer who may look)."""
    for folder in reversed(path.parents):
        try:
            st = os.stat(folder)
        except OSError:
            return True  # not there: the caller will say so, as the peer could see
        if not peer.may(st, 1):
            return False
    try:
        st = os.stat(path)
    except OSError:
        return True
    return stat.S_ISDIR(st.st_mode) or peer.may(st, 4)
