"""The journaled move: intent in the ledger, then the move, its sidecars and links, then done.

Every move of a file the daemon makes (sorting, review actions, re-checks, undo,
purging the trash) goes through `Journal`, so each is one row of the ledger that
says 'moving' before anything on disk changes and 'done' after:

    begin (row: source, target, hash, decision) → route.move → sidecars → XMP → links → finish

A photo's sidecars (kinds.py: XMP, Takeout JSON, AAE) are found beside it at every
move and go with it, renamed as it is; links (a photo of several people filed under
each of them) get copies of them too. Sidecars and links are journaled one by one in
the same row before each is made, so after a crash `recover` knows every name it may
have to finish or remove. With [xmp] write, who is in a file filed under someone is
written into its XMP sidecar (xmp.py) before its links are made, and the row records
what the sidecar was, for undo. `recover` settles every row still 'moving' at start-up: a
move whose target holds the right bytes is finished (with its sidecars and links),
one whose file is still (or back) at its source is rolled back, and the file is
sorted again.
"""

from __future__ import annotations

import errno
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..engine import kinds
from ..engine.report import Signature
from ..errors import RouteError
from ..state import LedgerEntry, Record, Store
from ..vocabulary import Actor, Outcome
from . import route, xmp
from .xmp import Writer

log = logging.getLogger("facewatchd.journal")


@dataclass(frozen=True)
class Moved:
    entry_id: int
    target: Path
    links: tuple[Path, ...]


@dataclass(frozen=True)
class Planned:
    """One file of a group move (`Journal.move_group`): the file at `source`, as analysed
    (`signature`, `sha256`), into `folder`; `record` is what its row says."""

    source: Path
    folder: Path
    record: Record
    signature: Signature
    sha256: str


class Journal:
    def __init__(self, store: Store, progress: route.Progress = route._nothing,
                 xmp: Writer | None = None) -> None:
        self.store = store
        self.progress = progress
        self.xmp = xmp  # [xmp] write: who is in a file filed under a person, into its sidecar

    def move(self, source: Path, folder: Path, record: Record, *, signature: Signature,
             sha256: str, size: int, name: str | None = None, also: Sequence[Path] = ()) -> Moved:
        """Move the file at `source` into `folder` (as `name`, or its own name, made
        unique) with its sidecars, write who is in it into its XMP sidecar (with [xmp]
        write, for a file filed under someone), and link it into each folder of `also`;
        `record` is what its ledger row says of the move.

        Raises RouteError, with the file where it was, when it cannot be moved.
        """
        record = _fresh(record)
        target = route.free_target(folder, name or source.name)
        entry_id = self.store.begin_move(sha256=sha256, size=size, source=str(source),
                                         target=str(target), record=record)
        while True:
            try:
                route.move(source, target, str(entry_id), signature, self.progress)
                break
            except FileExistsError:  # the name was taken meanwhile: take the next one
                target = route.free_target(target.parent, source.name if name is None else name)
                self.store.retarget(entry_id, str(target))
            except RouteError as e:
                self.store.abandon_move(entry_id, str(e))
                raise
        carried = Carried(self, entry_id)
        for sidecar in kinds.sidecars_of(source) if kinds.is_media(source) else ():
            carried.move(sidecar, target.parent / kinds.renamed(sidecar.name, source.name, target.name))
        written = self._write_names(entry_id, target, record)
        made = [{"to": written["path"]}] if written and written["created"] else []
        links = self._link(entry_id, target, also, carried, made)
        self.store.finish_move(entry_id, [str(p) for p in links])
        return Moved(entry_id, target, tuple(links))

    def plain(self, source: Path, folder: Path, record: Record, signature: Signature,
              listing: Sequence[str] | None = None) -> bool:
        """Whether a move may go in a group (`move_group`): nothing to carry along (no
        sidecar beside it, no XMP to write), and one rename into `folder` (the same
        filesystem). Costs a listing of the file's folder, unless `listing` is one
        (kinds.listed) taken since the file's sidecars would have arrived."""
        return ((self.xmp is None or record.outcome != Outcome.SORTED)
                and route.same_filesystem(signature, folder)
                and not (kinds.is_media(source) and kinds.sidecars_of(source, listing)))

    def move_group(self, planned: Sequence[Planned],
                   first: Callable[[], None] = lambda: None) -> list[Moved | RouteError]:
        """`move` for many plain files at once (each `plain`, without links), in the same
        order on disk, its cost shared: one synced commit of every 'moving' row (`first`
        writes in that transaction too), the renames, one fsync of each folder they touched,
        one synced commit of every 'done'. A crash anywhere leaves rows 'moving' that
        `recover` settles one by one, as for a single move.

        Returns, for each file, where it went, or the RouteError that left it where it was.
        """
        targets: list[Path] = []
        taken: set[Path] = set()  # two files of the group may want one name
        for p in planned:
            targets.append(route.free_target(p.folder, p.source.name, taken))
            taken.add(targets[-1])
        with self.store.transaction():
            first()
            ids = [self.store.begin_move(sha256=p.sha256, size=p.signature.size, source=str(p.source),
                                         target=str(t), record=_fresh(p.record))
                   for p, t in zip(planned, targets, strict=True)]
        results: list[Moved | RouteError] = []
        folders: set[Path] = set()
        for p, entry_id, target in zip(planned, ids, targets, strict=True):
            while True:
                try:
                    self._rename_in_group(p, target, entry_id)
                except FileExistsError:  # the name was taken meanwhile: the next one
                    target = route.free_target(target.parent, p.source.name, taken)
                    taken.add(target)
                    self.store.retarget(entry_id, str(target))
                    continue
                except RouteError as e:
                    results.append(e)
                else:
                    results.append(Moved(entry_id, target, ()))
                    folders.update((target.parent, p.source.parent))
                break
        # The renames on disk before any row says 'done' (else a power cut could leave a
        # row saying the file is where it never got to, and the file back in inbound).
        for folder in folders:
            route.fsync_dir(folder)
        with self.store.transaction():
            for entry_id, result in zip(ids, results, strict=True):
                if isinstance(result, RouteError):
                    self.store.abandon_move(entry_id, str(result))
                else:
                    self.store.finish_move(entry_id)
        return results

    def _rename_in_group(self, p: Planned, target: Path, entry_id: int) -> None:
        """One file of a group renamed, its folders synced with the others'; one across a
        mount point (a bind mount of the same filesystem too) is moved on its own, copied
        and synced (route.move)."""
        try:
            route.rename_unsynced(p.source, target, p.signature)
        except OSError as e:
            if isinstance(e, FileExistsError) or e.errno != errno.EXDEV:
                raise
            route.move(p.source, target, str(entry_id), p.signature, self.progress)

    def restate(self, entry: LedgerEntry, record: Record, also: Sequence[Path] = ()) -> Moved:
        """A new decision for a file that stays where it is (the folder it is in is the
        one the decision names: "not Anna" of a file whose own name is under Bob): one
        more row of its history, in which it does not move, its sidecars stay, and it is
        linked into `also` (links there now taken away by the caller first)."""
        target = entry.path
        record = _fresh(record)
        entry_id = self.store.begin_move(sha256=entry.sha256, size=entry.size, source=str(target),
                                         target=str(target), record=record)
        carried = Carried(self, entry_id, [s for s in entry.sidecars if not s.get("copy")])
        self.store.plan_sidecars(entry_id, carried.done)
        written = self._write_names(entry_id, target, record)
        made = [{"to": written["path"]}] if written and written["created"] else []
        links = self._link(entry_id, target, also, carried, made)
        self.store.finish_move(entry_id, [str(p) for p in links])
        return Moved(entry_id, target, tuple(links))

    def attach(self, entry: LedgerEntry, sidecar: Path, photo_name: str) -> Path:
        """Bring a sidecar that arrived after its photo (named `photo_name` then) to where
        the photo is now (the file the ledger's current `entry` has), and beside each of
        its links: one more row of the photo's history, in which only the sidecar moves.
        Returns where it went."""
        target = entry.path
        entry_id = self.store.begin_move(
            sha256=entry.sha256, size=entry.size, source=str(target), target=str(target),
            record=replace(entry.record, actor=Actor.SIDECAR, prior_id=entry.id, taught=()))
        carried = Carried(self, entry_id, entry.sidecars)
        moved = carried.move(sidecar, target.parent / kinds.renamed(sidecar.name, photo_name, target.name))
        if moved is None:
            self.store.abandon_move(entry_id, "the sidecar could not be moved")
            raise RouteError(f"{sidecar} could not be brought beside {target}")
        for link in entry.links:
            carried.copy(moved, Path(link).parent / kinds.renamed(moved.name, target.name, Path(link).name))
        self.store.finish_move(entry_id, entry.links)
        return moved

    def _write_names(self, entry_id: int, target: Path, record: Record) -> dict[str, Any] | None:
        """Who is in the file filed under `record.persons`, into its XMP sidecar, and
        what was written into the row, for undo (files/xmp.py)."""
        if self.xmp is None or record.outcome != Outcome.SORTED:
            return None
        written = xmp.try_write(self.xmp, target, xmp.Names.of(record.evidence, record.persons),
                                self._keywords_added(record.prior_id), f"{entry_id}-x")
        if written is not None:
            self.store.set_xmp(entry_id, written)
        return written

    def _keywords_added(self, entry_id: int | None) -> list[str]:
        """The keywords the last write into this file's sidecar added (the next takes
        them away before it adds its own): from the latest move of it that wrote."""
        while entry_id is not None:
            entry = self.store.linked(entry_id)
            if "xmp" in entry.evidence:
                return list(entry.evidence["xmp"].get("added", []))
            entry_id = entry.prior_id
        return []

    def _link(self, entry_id: int, target: Path, folders: Sequence[Path],
              carried: Carried, made: Sequence[dict[str, Any]] = ()) -> list[Path]:
        """A hard link (or a copy) of `target` in each further folder, and copies of its
        sidecars (`made`: one written for it) beside it, each journaled before it is made."""
        links: list[Path] = []
        planned: list[str] = []
        sidecars = [*carried.done, *made]
        for folder in folders:
            if folder == target.parent:
                continue  # one destination for everyone: the file is there already
            link = route.free_target(folder, target.name)
            planned.append(str(link))
            self.store.plan_links(entry_id, planned)
            try:
                route.link_or_copy(target, link, link_tag(entry_id, len(planned) - 1), self.progress)
            except (RouteError, FileExistsError) as e:
                log.warning("could not also file %s in %s: %s", target, folder, e)
                continue
            links.append(link)
            for sidecar in sidecars:
                carried.copy(Path(sidecar["to"]),
                             folder / kinds.renamed(Path(sidecar["to"]).name, target.name, link.name))
        return links

    def delete(self, entry: LedgerEntry, record: Record) -> None:
        """Delete the file the ledger has at `entry.target` for good, and its sidecars,
        journaled (`record`: what its row says). Raises RouteError when it cannot be
        deleted; the file stays."""
        path = entry.path
        sidecars = [{"from": str(s), "to": None, "sha256": route.file_sha256(s)}
                    for s in kinds.sidecars_of(path)]
        entry_id = self.store.begin_move(sha256=entry.sha256, size=entry.size, source=str(path),
                                         target=None, record=record)
        self.store.plan_sidecars(entry_id, sidecars)
        try:
            path.unlink()
        except OSError as e:
            self.store.abandon_move(entry_id, e.strerror or str(e))
            raise RouteError(f"cannot delete {path}: {e.strerror or e}") from None
        _delete_sidecars(sidecars)
        self.store.finish_move(entry_id)

    def recover(self) -> int:
        """Settle every move a crash interrupted; returns how many there were."""
        entries = self.store.moves_under_way()
        for entry in entries:
            source = Path(entry.source)
            if entry.target is None:  # a purge: done if the file is gone
                finished = not os.path.lexists(source)
                if finished:
                    _delete_sidecars(entry.sidecars)
            elif entry.source == entry.target:  # a sidecar joining a photo that stays
                finished = route.file_sha256(source) == entry.sha256
            else:
                finished = route.recover(source, entry.path, str(entry.id), entry.sha256)
            if finished:
                if entry.target is not None:
                    Carried(self, entry.id).recover(entry.sidecars)
                links = self._recover_links(entry) if entry.target is not None else []
                self.store.finish_move(entry.id, links)
                log.info("finished the interrupted move of %s to %s", source, entry.target)
            else:
                self._remove_link_temps(entry)
                Carried(self, entry.id).roll_back(entry.sidecars)
                self.store.abandon_move(entry.id, "interrupted before the move; sorted again")
                log.info("rolled back the interrupted move of %s", source)
        return len(entries)

    def _recover_links(self, entry: LedgerEntry) -> list[str]:
        """The planned links of a finished move: keep those made, make the missing ones."""
        target = entry.path
        kept = []
        for n, name in enumerate(entry.links):
            link = Path(name)
            route.temp_path(link, link_tag(entry.id, n)).unlink(missing_ok=True)
            if os.path.lexists(link) and route.file_sha256(link) != entry.sha256:
                continue  # that name belongs to another file: ours never got there
            if not os.path.lexists(link):
                try:
                    route.link_or_copy(target, link, link_tag(entry.id, n), self.progress)
                except (RouteError, FileExistsError) as e:
                    log.warning("could not also file %s in %s: %s", target, link.parent, e)
                    continue
            kept.append(name)
        return kept

    def _remove_link_temps(self, entry: LedgerEntry) -> None:
        # Links are made only once the move is done: a rolled-back one has at most temps.
        for n, name in enumerate(entry.links):
            route.temp_path(Path(name), link_tag(entry.id, n)).unlink(missing_ok=True)


class Carried:
    """The sidecars one ledger row moves (or copies beside links), journaled one by one:
    each as {"from", "to", "sha256", "copy"} in the row before it is moved."""

    def __init__(self, journal: Journal, entry_id: int, before: Sequence[dict[str, Any]] = ()) -> None:
        self.journal, self.entry_id = journal, entry_id
        self.done: list[dict[str, Any]] = [dict(s, **{"from": s["to"]}) for s in before
                                           if s.get("to")]  # they stay where they are

    def move(self, source: Path, target: Path) -> Path | None:
        return self._carry(source, target, copy=False)

    def copy(self, source: Path, target: Path) -> Path | None:
        return self._carry(source, target, copy=True)

    def _carry(self, source: Path, target: Path, copy: bool) -> Path | None:
        """Move (or copy) one sidecar; a sidecar that cannot be moved stays where it is,
        beside the photo's old place, and says so in the log."""
        identity = route.identify(source)
        if identity is None:
            return None  # gone, or not a regular file any more
        tag = f"{self.entry_id}-s{len(self.done)}"
        while True:
            target = route.free_target(target.parent, target.name)
            record = {"from": str(source), "to": str(target), "sha256": identity[1], "copy": copy}
            self.journal.store.plan_sidecars(self.entry_id, [*self.done, record])
            try:
                if copy:
                    route.link_or_copy(source, target, tag, self.journal.progress)
                else:
                    route.move(source, target, tag, identity[0], self.journal.progress)
            except FileExistsError:
                continue
            except RouteError as e:
                log.warning("the sidecar %s stays where it is: %s", source, e)
                self.journal.store.plan_sidecars(self.entry_id, self.done)
                return None
            self.done.append(record)
            return target

    def recover(self, planned: Sequence[dict[str, Any]]) -> None:
        """After a crash: finish each planned sidecar move of a finished move."""
        for n, record in enumerate(planned):
            source, target = Path(record["from"]), Path(record["to"])
            tag = f"{self.entry_id}-s{n}"
            if record.get("copy"):
                route.temp_path(target, tag).unlink(missing_ok=True)
                arrived = os.path.lexists(target)
            else:
                arrived = route.recover(source, target, tag, record["sha256"])
            if arrived:
                self.done.append(record)
            elif self._carry(source, target, bool(record.get("copy"))) is None:
                log.warning("the sidecar %s did not follow its photo to %s", source, target.parent)
        self.journal.store.plan_sidecars(self.entry_id, self.done)


    def roll_back(self, planned: Sequence[dict[str, Any]]) -> None:
        """After a crash, for a move that did not happen: sidecars back where they were."""
        for n, record in enumerate(planned):
            if record.get("to") is None:
                continue
            tag = f"{self.entry_id}-s{n}"
            if record.get("copy"):
                route.temp_path(Path(record["to"]), tag).unlink(missing_ok=True)
            else:
                route.recover(Path(record["from"]), Path(record["to"]), tag, record["sha256"])


def _fresh(record: Record) -> Record:
    """What an earlier move wrote into the sidecar is that row's to undo, not this one's."""
    return replace(record, evidence={k: v for k, v in record.evidence.items() if k != "xmp"})


def _delete_sidecars(sidecars: Sequence[dict[str, Any]]) -> None:
    for record in sidecars:
        path = Path(record["from"])
        if route.file_sha256(path) == record["sha256"]:
            path.unlink()


def link_tag(entry_id: int, n: int) -> str:
    """The journal's tag of the `n`th link of a move: names its temporary copy."""
    return f"{entry_id}-{n}"
