"""Sorting one analysed file: duplicate check, decision, journaled move, ledger.

Runs in the main process only: it is the one writer of the database and the one
mover of files. Each move is written to the ledger as under way before the file
moves and marked done after, so `recover` can settle a crash at start-up.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from . import route
from .config import Config, WatchConfig
from .decide import Decision, Policy, References, decide
from .errors import RouteError
from .report import FaceReport
from .store import Store

log = logging.getLogger("facewatchd.sorter")

DUPLICATES = "duplicates"
FAILED = "failed"


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
        self.policy = Policy(config.tolerance_for, config.recognition.multi_person)
        self.references = store.active_references()

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
        target = route.free_target(folder / subfolder, source.name)
        entry_id = self.store.begin_move(
            sha256=report.sha256, size=report.signature.size, source=str(source),
            target=str(target), outcome=outcome, reason=decision.reason,
            persons=list(decision.persons), evidence=record,
            original_id=original.id if original else None)
        try:
            target = self._move(entry_id, source, target, report)
        except RouteError as e:
            self.store.abandon_move(entry_id, str(e))
            return self._left(source, str(e))
        links = [str(p) for p in self._link_others(entry_id, target, decision, watch, subfolder)]
        self.store.finish_move(entry_id, links)
        result = Outcome(source, outcome, decision.reason, decision.persons, target, entry_id)
        _log_outcome(result, decision, report)
        return result

    def _move(self, entry_id: int, source: Path, target: Path, report: FaceReport) -> Path:
        while True:
            try:
                route.move(source, target, str(entry_id), report.signature)
                return target
            except FileExistsError:  # the name was taken meanwhile: take the next one
                target = route.free_target(target.parent, source.name)
                self.store.retarget(entry_id, str(target))

    def _link_others(self, entry_id: int, target: Path, decision: Decision, watch: WatchConfig,
                     subfolder: Path) -> list[Path]:
        """With multi_person = all: a hard link (or a copy) in each further person's folder."""
        links = []
        for person in decision.persons[1:]:
            folder = watch.destination_for(person) / subfolder
            if folder == target.parent:
                continue  # one destination for everyone: the file is there already
            link = route.free_target(folder, target.name)
            try:
                route.link_or_copy(target, link, f"{entry_id}-{len(links)}")
            except (RouteError, FileExistsError) as e:
                log.warning("could not also file %s under %s: %s", target, person, e)
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
            source, target = Path(entry.source), Path(entry.target)
            if route.recover(source, target, str(entry.id), entry.sha256):
                self.store.finish_move(entry.id)
                log.info("finished the interrupted move of %s to %s", source, target)
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
                        tolerance=v.tolerance, matched=v.matched)
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
