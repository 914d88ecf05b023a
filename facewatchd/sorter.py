"""Sorting one analysed file: duplicate check, decision, journaled move, ledger.

Runs in the main process only: it is the one writer of the database and the one
mover of files. Each move is written to the ledger as under way before the file
moves and marked done after, so `recover` can settle a crash at start-up.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from . import route
from .config import Config, WatchConfig
from .decide import Decision, Policy, References, decide
from .errors import RouteError
from .report import FaceReport, Signature
from .store import LedgerEntry, Store

log = logging.getLogger("facewatchd.sorter")

DUPLICATES = "duplicates"
FAILED = "failed"
UNDONE = "undone"  # the outcome of a file put back in inbound by an undo: left there


@dataclass(frozen=True)
class Outcome:
    """What happened to one file. `outcome` is sorted, review, duplicate, failed or left."""

    source: Path
    outcome: str
    reason: str
    persons: tuple[str, ...] = ()
    target: Path | None = None
    entry_id: int | None = None


class Sorter:
    def __init__(self, config: Config, store: Store) -> None:
        self.config = config
        self.store = store
        rec = config.recognition
        self.policy = Policy(config.tolerance_for, rec.multi_person, rec.sure_tolerance,
                             rec.min_support, rec.min_margin)
        self.references = store.active_references()
        # Files an undo put back in inbound, by path: (size, mtime_ns, ledger id).
        self.held = {e.target: (e.size, e.evidence["held_mtime_ns"], e.id)
                     for e in store.current((UNDONE,))}

    def is_held(self, path: Path) -> bool:
        """Was this file put back by an undo, unchanged since? Then it is not sorted again."""
        held = self.held.get(str(path))
        if held is None:
            return False
        try:
            st = os.lstat(path)
        except OSError:
            return False
        return (st.st_size, st.st_mtime_ns) == held[:2]

    def reload_references(self) -> References:
        self.references = self.store.active_references()
        return self.references

    def watch_for(self, path: Path) -> WatchConfig | None:
        for watch in self.config.watches:
            if path.is_relative_to(watch.inbound):
                return watch
        return None

    def handle(self, report: FaceReport) -> Outcome:
        """Decide where the file of `report` goes and move it there."""
        source = Path(report.path)
        watch = self.watch_for(source)
        if watch is None:
            return self._left(source, "not in any inbound folder")
        if report.signature is None and report.abandoned:
            # The worker never said what it read: identify the file here to set it aside.
            if (identity := route.identify(source)) is not None:
                report = replace(report, signature=identity[0], sha256=identity[1])
        if report.signature is None:
            # Never opened (gone, a symlink, unreadable): nothing of ours to move.
            return self._left(source, report.error or "could not be opened")
        subfolder = source.parent.relative_to(watch.inbound)
        decision = decide(report, self.references, self.policy)
        record = evidence(report, decision)
        original = None
        if decision.outcome == "failed":
            folder, outcome = watch.review / FAILED, "failed"
        elif (original := self.store.sorted_before(report.sha256)) is not None:
            folder, outcome = watch.review / DUPLICATES, "duplicate"
            decision = Decision("review", "duplicate",
                                f"same content as a file sorted before, now at {original.target}")
            record = {**record, "rule": decision.rule}
        elif decision.outcome == "sorted":
            folder, outcome = watch.destination_for(decision.persons[0]), "sorted"
        else:
            folder, outcome = watch.review, "review"
        root = watch.destination_root if outcome == "sorted" else watch.review.parent
        if not root.is_dir():
            # Never recreate it: on an unmounted disk that would fill the mount point.
            return self._left(source, f"{root} is missing (a disk not mounted?)")
        if outcome != "sorted":  # what review, clustering and the contact sheet will need
            self.store.save_faces(report.sha256, [(f.box, f.score, f.time, f.encoding)
                                                  for f in report.faces],
                                  report.thumbnail, report.thumbnail_time)
        # A file that an undo put back and that changed since continues that history.
        held = self.held.pop(str(source), None)
        target = route.free_target(folder / subfolder, source.name)
        entry_id = self.store.begin_move(
            sha256=report.sha256, size=report.signature.size, source=str(source),
            target=str(target), outcome=outcome, reason=decision.reason,
            persons=list(decision.persons), evidence=record,
            original_id=original.id if original else None,
            prior_id=held[2] if held else None)
        try:
            target = self._move(entry_id, source, target, report.signature)
        except RouteError as e:
            self.store.abandon_move(entry_id, str(e))
            return self._left(source, str(e))
        also = [watch.destination_for(p) / subfolder for p in decision.persons[1:]]
        self.store.finish_move(entry_id, [str(p) for p in self._link(entry_id, target, also)])
        result = Outcome(source, outcome, decision.reason, decision.persons, target, entry_id)
        _log_outcome(result, decision, report)
        return result

    def relocate(self, entry: LedgerEntry, folder: Path, *, outcome: str, reason: str,
                 actor: str, persons: tuple[str, ...] = (), evidence: dict[str, Any] | None = None,
                 item_id: int | None = None, taught: list[int] = (), name: str | None = None,
                 also: list[Path] = ()) -> Path:
        """Move a file the ledger knows (at `entry.target`) on into `folder`, journaled,
        and link it into the folders `also` (further persons).

        Refuses with RouteError when the file there is no longer the one the ledger
        knows; returns where it went (`name`, or its own name, made unique).
        """
        source = Path(entry.target)
        identity = route.identify(source)
        if identity is None or identity[1] != entry.sha256:
            raise RouteError(f"{source} is not the file the ledger put there any more"
                             " (moved, replaced or changed)")
        target = route.free_target(folder, name or source.name)
        entry_id = self.store.begin_move(
            sha256=entry.sha256, size=entry.size, source=str(source), target=str(target),
            outcome=outcome, reason=reason, persons=list(persons),
            evidence=entry.evidence if evidence is None else evidence, prior_id=entry.id,
            item_id=item_id, actor=actor, taught=list(taught))
        try:
            target = self._move(entry_id, source, target, identity[0])
        except RouteError as e:
            self.store.abandon_move(entry_id, str(e))
            raise
        self.store.finish_move(entry_id, [str(p) for p in self._link(entry_id, target, also)])
        log.info("%s → %s (%s by %s: %s)", source, target, outcome, actor, reason,
                 extra={"FACEWATCH_PATH": str(source), "FACEWATCH_TARGET": str(target),
                        "FACEWATCH_DECISION": outcome, "FACEWATCH_ACTOR": actor})
        return target

    def _move(self, entry_id: int, source: Path, target: Path, signature: Signature) -> Path:
        while True:
            try:
                route.move(source, target, str(entry_id), signature)
                return target
            except FileExistsError:  # the name was taken meanwhile: take the next one
                target = route.free_target(target.parent, source.name)
                self.store.retarget(entry_id, str(target))

    def _link(self, entry_id: int, target: Path, folders: list[Path]) -> list[Path]:
        """With multi_person = all: a hard link (or a copy) in each further person's folder."""
        links = []
        for folder in folders:
            if folder == target.parent:
                continue  # one destination for everyone: the file is there already
            link = route.free_target(folder, target.name)
            try:
                route.link_or_copy(target, link, f"{entry_id}-{len(links)}")
            except (RouteError, FileExistsError) as e:
                log.warning("could not also file %s in %s: %s", target, folder, e)
                continue
            links.append(link)
        return links

    def _left(self, source: Path, why: str) -> Outcome:
        log.warning("left %s in place: %s", source, why,
                    extra={"FACEWATCH_PATH": str(source), "FACEWATCH_DECISION": "left"})
        return Outcome(source, "left", why)

    def recover(self) -> int:
        """Settle every move a crash interrupted; returns how many there were."""
        entries = self.store.moves_under_way()
        for entry in entries:
            source = Path(entry.source)
            if entry.target is None:  # a purge: done if the file is gone
                finished = not os.path.lexists(source)
            else:
                finished = route.recover(source, Path(entry.target), str(entry.id), entry.sha256)
            if finished:
                self.store.finish_move(entry.id)
                log.info("finished the interrupted move of %s to %s", source, entry.target)
            else:
                self.store.abandon_move(entry.id, "interrupted before the move; sorted again")
                log.info("rolled back the interrupted move of %s", source)
        return len(entries)


def evidence(report: FaceReport, decision: Decision) -> dict[str, Any]:
    """The record of a decision: each face, its nearest reference, the rule that decided."""
    verdicts = {v.face: v for v in decision.faces}
    faces = []
    for i, face in enumerate(report.faces):
        item: dict[str, Any] = {"box": list(face.box), "score": round(face.score, 3)}
        if face.time is not None:
            item["time"] = face.time
        if (v := verdicts.get(i)) is not None:
            item.update(person=v.person, distance=v.distance, reference=v.reference,
                        tolerance=v.tolerance, matched=v.matched, band=v.band, support=v.support,
                        references=v.references, margin=v.margin, runner_up=v.runner_up,
                        why=v.why)
        faces.append(item)
    evidence = {"kind": report.kind, "size": list(report.size), "faces": faces,
                "rule": decision.rule, "seconds": round(report.seconds, 3)}
    if report.frame_times:
        evidence["frame_times"] = list(report.frame_times)
    if report.error:
        evidence["error"] = report.error
    return evidence


def _log_outcome(result: Outcome, decision: Decision, report: FaceReport) -> None:
    best = min((v.distance for v in decision.faces if v.distance is not None), default=None)
    fields = {"FACEWATCH_PATH": str(result.source), "FACEWATCH_DECISION": result.outcome,
              "FACEWATCH_REASON": result.reason, "FACEWATCH_TARGET": str(result.target),
              "FACEWATCH_FACES": str(len(report.faces))}
    if result.persons:
        fields["FACEWATCH_PERSON"] = ",".join(result.persons)
    if best is not None:
        fields["FACEWATCH_DISTANCE"] = f"{best:.4f}"
    level = logging.WARNING if result.outcome == "failed" else logging.INFO
    log.log(level, "%s → %s (%s: %s)", result.source, result.target, result.outcome,
            decision.rule, extra=fields)
