"""Sorting one analysed file: duplicate check, decision, journaled move, ledger.

Runs in the main process only: it is the one writer of the database and the one
mover of files, every move through the journal (journal.py). `plan` is the one
routing rule: sorting a file and `facewatchctl test` both ask it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..config import Config, WatchConfig
from ..engine import kinds
from ..engine.report import FaceReport
from ..errors import RefusedError, RouteError
from ..policy.decide import Decision, Policy, References, decide, evidence
from ..policy.learn import auto_reference
from ..state import LedgerEntry, Quality, Record, Store
from ..vocabulary import Origin, Outcome, Reason
from . import route
from .exiftool import ExifTool
from .folders import in_review
from .journal import Journal, Moved, Planned
from .mounts import Mounts
from .xmp import Writer

log = logging.getLogger("facewatchd.sorter")


@dataclass(frozen=True)
class Handled:
    """What happened to one file: sorted, review, duplicate, failed or left; for a
    sidecar, sidecar (it followed its photo) or ignored."""

    source: Path
    outcome: Outcome
    reason: str
    persons: tuple[str, ...] = ()
    target: Path | None = None
    entry_id: int | None = None


@dataclass(frozen=True)
class Plan:
    """Where a file would go, and why: the one routing rule, shared by sorting and `test`.

    `outcome` is sorted, review, duplicate, failed, or left (stays in inbound: `why`);
    `decision` is what its faces say, `reason` and `persons` what the ledger records
    (a duplicate is filed as a duplicate, whoever is in it).
    """

    outcome: Outcome
    decision: Decision
    evidence: dict[str, Any]  # what the ledger keeps of the decision
    folder: Path | None = None
    also: tuple[Path, ...] = ()  # further persons' folders (multi_person = all)
    original: LedgerEntry | None = None  # the file this one duplicates
    why: str = ""

    @property
    def reason(self) -> str:
        return Reason.DUPLICATE if self.outcome == Outcome.DUPLICATE else self.decision.reason

    @property
    def persons(self) -> tuple[str, ...]:
        return self.decision.persons if self.outcome == Outcome.SORTED else ()


class Sorter:
    def __init__(self, config: Config, store: Store, progress: route.Progress = route._nothing,
                 mounts: Mounts | None = None, exiftool: ExifTool | None = None) -> None:
        self.config = config
        self.store = store
        # `exiftool`: the daemon's, kept running across reloads.
        self.xmp = Writer(exiftool or ExifTool()) if config.xmp.write else None
        self.journal = Journal(store, progress, self.xmp)
        self.mounts = mounts or Mounts(config)
        rec = config.recognition
        self.policy = Policy(config.tolerance_for, rec.multi_person, rec.sure_tolerance,
                             rec.min_support, rec.min_margin, rec.support_tolerance,
                             rec.min_band_face)
        self.references = References(*store.active_references(), *store.active_negatives())
        # Files an undo put back in inbound, by path: (size, mtime_ns, ledger id).
        undone = store.current((Outcome.UNDONE,))
        self.held = {str(e.path): (e.size, e.evidence["held_mtime_ns"], e.id)
                     for e in undone if not e.evidence.get("released")}
        self.released = {str(e.path): e.id for e in undone if e.evidence.get("released")}

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

    def held_files(self) -> list[Path]:
        """The files an undo put back in inbound that wait there, unchanged."""
        return [Path(p) for p in self.held if self.is_held(Path(p))]

    def release(self, path: Path) -> bool:
        """Let a held file be sorted again (False if it is not held)."""
        held = self.held.pop(str(path), None)
        if held is None:
            return False
        self.store.mark_released(held[2])
        self.released[str(path)] = held[2]
        return True

    def reload_references(self) -> References:
        self.references = References(*self.store.active_references(), *self.store.active_negatives())
        return self.references

    def watch_for(self, path: Path) -> WatchConfig | None:
        for watch in self.config.watches:
            if path.is_relative_to(watch.inbound):
                return watch
        return None

    def plan(self, report: FaceReport, watch: WatchConfig | None = None) -> Plan:
        """Decide where the file of `report` goes: duplicate check, decision, folder."""
        source = Path(report.path)
        watch = watch or self.watch_for(source)
        decision = decide(report, self.references, self.policy)
        record = evidence(report, decision)
        if watch is None:
            return Plan(Outcome.LEFT, decision, record, why="not in any inbound folder")
        if report.signature is None:
            # Never opened (gone, a symlink, unreadable): nothing of ours to move.
            return Plan(Outcome.LEFT, decision, record, why=report.error or "could not be opened")
        subfolder = source.parent.relative_to(watch.inbound) if source.is_relative_to(
            watch.inbound) else Path()
        original = None
        if decision.outcome == Outcome.FAILED:
            outcome = Outcome.FAILED
        elif (original := self.store.sorted_before(report.sha256)) is not None:
            outcome = Outcome.DUPLICATE
            record = {**record,
                      "rule": f"same content as a file sorted before, now at {original.target}"}
        else:
            outcome = decision.outcome
        if outcome == Outcome.SORTED:
            folder = watch.destination_for(decision.persons[0]) / subfolder
        else:
            folder = in_review(watch.review, outcome, subfolder)
        if (why := self.mounts.problem(folder)) is not None:
            return Plan(Outcome.LEFT, decision, record, why=why)
        also = tuple(watch.destination_for(p) / subfolder for p in decision.persons[1:]) \
            if outcome == Outcome.SORTED else ()
        return Plan(outcome, decision, record, folder, also, original)

    def handle(self, report: FaceReport) -> Handled:
        """Decide where the file of `report` goes and move it there."""
        prepared = self._prepare(report)
        if isinstance(prepared, Handled):
            return prepared
        report, plan = prepared
        assert plan.folder is not None and report.signature is not None
        self._save_faces(report)
        try:
            moved = self.journal.move(
                Path(report.path), plan.folder, self._record(report, plan),
                signature=report.signature, sha256=report.sha256, size=report.signature.size,
                also=plan.also)
        except RouteError as e:
            return self._left(Path(report.path), str(e))
        return self._done(report, plan, moved)

    def handle_many(self, reports: Sequence[FaceReport]) -> list[Handled]:
        """`handle` for each file of `reports`, in order; those that are plain (one rename,
        nothing carried along: Journal.plain) moved as a group, with one synced commit
        before their renames and one after (Journal.move_group) instead of two each."""
        handled: dict[int, Handled] = {}
        group: list[tuple[int, FaceReport, Plan]] = []
        planned: list[Planned] = []
        alone: list[int] = []
        contents: set[str] = set()
        listings: dict[Path, list[str]] = {}  # each inbound folder listed once for the group
        for n, report in enumerate(reports):
            prepared = self._prepare(report)
            if isinstance(prepared, Handled):
                handled[n] = prepared
                continue
            report, plan = prepared
            assert plan.folder is not None and report.signature is not None
            record = self._record(report, plan)
            source = Path(report.path)
            if source.parent not in listings:
                listings[source.parent] = kinds.listed(source.parent)
            # A second copy waits for the first to be filed, to be found its duplicate.
            if (report.sha256 in contents or plan.also or not self.journal.plain(
                    source, plan.folder, record, report.signature, listings[source.parent])):
                alone.append(n)
            else:
                group.append((n, report, plan))
                planned.append(Planned(source, plan.folder, record, report.signature, report.sha256))
            contents.add(report.sha256)

        def faces() -> None:
            for _, report, _ in group:
                self._save_faces(report)

        if group:
            moves = self.journal.move_group(planned, first=faces)
            for (n, report, plan), moved in zip(group, moves, strict=True):
                handled[n] = (self._left(Path(report.path), str(moved))
                              if isinstance(moved, RouteError) else self._done(report, plan, moved))
        for n in alone:
            handled[n] = self.handle(reports[n])
        return [handled[n] for n in range(len(reports))]

    def _prepare(self, report: FaceReport) -> tuple[FaceReport, Plan] | Handled:
        """The report (identified here if the worker never said what it read) and where
        its file goes; or what happened to a file that stays in inbound."""
        source = Path(report.path)
        if report.signature is None and report.abandoned:
            # The worker never said what it read: identify the file here to set it aside.
            if (identity := route.identify(source, self.journal.progress)) is not None:
                report = replace(report, signature=identity[0], sha256=identity[1])
        plan = self.plan(report)
        if plan.outcome == Outcome.LEFT:
            return self._left(source, plan.why)
        return report, plan

    def _save_faces(self, report: FaceReport) -> None:
        # What review, clustering, the contact sheet, a person's gallery, "not this person"
        # and the re-check of what was filed will need.
        self.store.save_faces(report.sha256, [(f.box, f.score, f.time, f.encoding, f.side, f.sharpness)
                                              for f in report.faces],
                              report.thumbnail, report.thumbnail_time)

    def _record(self, report: FaceReport, plan: Plan) -> Record:
        """The row of the move; a file that an undo put back (and that changed since, or
        was released) continues that history."""
        held = self.held.get(str(Path(report.path)))
        prior = held[2] if held else self.released.get(str(Path(report.path)))
        return Record(plan.outcome, plan.reason, plan.persons, plan.evidence,
                      original_id=plan.original.id if plan.original else None, prior_id=prior)

    def _done(self, report: FaceReport, plan: Plan, moved: Moved) -> Handled:
        """A file moved: logged, the history it continued closed, and perhaps learnt from."""
        source = Path(report.path)
        self.held.pop(str(source), None)
        self.released.pop(str(source), None)
        result = Handled(source, plan.outcome, plan.reason, plan.persons, moved.target,
                         moved.entry_id)
        _log_outcome(result, plan, report)
        if plan.outcome == Outcome.SORTED and (face := auto_reference(
                report, plan.decision, self.references, self.config.recognition)) is not None:
            self._learn(moved.entry_id, moved.target, report, plan.decision, face)
        return result

    def _learn(self, entry_id: int, target: Path, report: FaceReport, decision: Decision,
               face: int) -> None:
        """Make face `face` of a file just sorted an automatic reference of its person.
        Its ledger entry records it as taught, so undoing the move disables it; the
        review queue is not re-checked (an automatic reference only extends the sure band)."""
        verdict = next(v for v in decision.faces if v.face == face)
        assert verdict.person is not None
        ref = self.store.add_reference(verdict.person, Origin.AUTO, str(target), report.sha256,
                                       report.faces[face].box, report.faces[face].encoding,
                                       Quality.of(report.faces[face]))
        self.store.set_taught(entry_id, [ref], f"face {face + 1} became automatic reference {ref} "
                                               f"of {verdict.person} ({verdict.why})")
        self.reload_references()
        log.info("%s: face %d became automatic reference %d of %s (%s)", target, face + 1, ref,
                 verdict.person, verdict.why, extra={"FACEWATCH_PATH": str(target),
                                                     "FACEWATCH_PERSON": verdict.person})

    def relocate(self, entry: LedgerEntry, folder: Path, record: Record, *, name: str | None = None,
                 also: Sequence[Path] = ()) -> Path:
        """Move a file the ledger knows (at `entry.target`) on into `folder`, journaled
        as `record` says (the next of the file's moves), and link it into the folders
        `also` (further persons). Its links of now go: those in `folder` and `also`
        before the move (so that it takes their names again), the others after it.

        Refuses with RouteError when the file there is no longer the one the ledger
        knows; returns where it went (`name`, or its own name, made unique).
        """
        current = self.store.entry(entry.id)
        if current is None or not current.current:
            raise RefusedError(f"{entry.target} was moved meanwhile (by another command, or the"
                               " daemon); look again")
        if (why := self.mounts.problem(folder)) is not None:
            raise RouteError(f"{entry.target} stays where it is: {why}")
        source = entry.path
        identity = route.identify(source, self.journal.progress)
        if identity is None or identity[1] != entry.sha256:
            raise RouteError(f"{source} is not the file the ledger put there any more"
                             " (moved, replaced or changed)")
        record = replace(record, prior_id=entry.id)
        named = {folder, *also}
        _unlink_links(entry, lambda at: at in named)
        if folder == source.parent and (name is None or name == source.name):
            moved = self.journal.restate(entry, record, also)  # where it belongs already
        else:
            moved = self.journal.move(source, folder, record, signature=identity[0], sha256=entry.sha256,
                                      size=entry.size, name=name, also=also)
        _unlink_links(entry, lambda at: at not in named)
        log.info("%s → %s (%s by %s: %s)", source, moved.target, record.outcome, record.actor,
                 record.reason, extra={"FACEWATCH_PATH": str(source), "FACEWATCH_TARGET": str(moved.target),
                                       "FACEWATCH_DECISION": record.outcome,
                                       "FACEWATCH_ACTOR": record.actor})
        return moved.target

    def follow(self, sidecar: Path) -> Handled:
        """A sidecar whose photo is not beside it: bring it to where the ledger says its
        photo is now. Without one (the photo never came, or is gone), it stays: ignored."""
        # The photo's name begins as the sidecar's does: "IMG_1.xmp", "IMG_1.jpg.json".
        first = next((e for e in self.store.found_as(str(sidecar.parent / sidecar.name.split(".")[0]))
                      if Path(e.source).parent == sidecar.parent and kinds.is_media(Path(e.source))
                      and kinds.belongs_to(sidecar.name, Path(e.source).name)), None)
        now = self.store.current_of(first) if first else None
        if first is None or now is None or now.target is None or now.outcome in (
                Outcome.UNDONE, Outcome.PURGED):
            return Handled(sidecar, Outcome.IGNORED, "no photo of it was sorted")
        try:
            target = self.journal.attach(now, sidecar, Path(first.source).name)
        except RouteError as e:
            return self._left(sidecar, str(e))
        log.info("%s → %s (the sidecar follows its photo)", sidecar, target,
                 extra={"FACEWATCH_PATH": str(sidecar), "FACEWATCH_TARGET": str(target),
                        "FACEWATCH_DECISION": Outcome.SIDECAR})
        return Handled(sidecar, Outcome.SIDECAR, "follows its photo", target=target)

    def _left(self, source: Path, why: str) -> Handled:
        log.warning("left %s in place: %s", source, why,
                    extra={"FACEWATCH_PATH": str(source), "FACEWATCH_DECISION": Outcome.LEFT})
        return Handled(source, Outcome.LEFT, why)


def _log_outcome(result: Handled, plan: Plan, report: FaceReport) -> None:
    best = min((v.distance for v in plan.decision.faces if v.distance is not None), default=None)
    fields = {"FACEWATCH_PATH": str(result.source), "FACEWATCH_DECISION": result.outcome,
              "FACEWATCH_REASON": result.reason, "FACEWATCH_TARGET": str(result.target),
              "FACEWATCH_FACES": str(len(report.faces))}
    if result.persons:
        fields["FACEWATCH_PERSON"] = ",".join(result.persons)
    if best is not None:
        fields["FACEWATCH_DISTANCE"] = f"{best:.4f}"
    level = logging.WARNING if result.outcome == Outcome.FAILED else logging.INFO
    log.log(level, "%s → %s (%s: %s)", result.source, result.target, result.outcome,
            plan.evidence["rule"], extra=fields)


def _unlink_links(entry: LedgerEntry, chosen: Callable[[Path], bool]) -> None:
    """Take away the file's links (and the sidecar copies beside them) in the folders
    `chosen` picks, those still the file: a link someone removed or replaced is left
    alone. A link is a second name: the file stays."""
    for link in (Path(link) for link in entry.links):
        if chosen(link.parent) and route.file_sha256(link) == entry.sha256:
            os.unlink(link)
    for sidecar in entry.sidecars:
        at = Path(sidecar["to"])
        if sidecar.get("copy") and chosen(at.parent) and route.file_sha256(at) == sidecar["sha256"]:
            os.unlink(at)
