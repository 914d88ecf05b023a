"""A person's side of what was filed: their photos, "not this person", a new name, and
the re-check of what was filed once what is known of them changed.

Like the review queue, it works from the faces stored when a file was analysed
(files sorted before those were kept are analysed again by the caller) and acts by
journaled moves (Sorter.relocate), so undo walks every one of them back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..config import WatchConfig
from ..errors import NotFoundError, RefusedError, RouteError
from ..policy.decide import Decision, decide
from ..state import LedgerEntry, Record, StoredFace
from ..vocabulary import Actor, Origin, Outcome, Reason
from . import route
from .folders import in_review
from .items import report_of, valid_person_name
from .sorter import Sorter

# A face this little beyond a person's tolerance still counts as "taken for them" when
# a person says it is not them: the review page's "maybe them" reaches that far too.
SAID_MARGIN = 0.05


class People:
    def __init__(self, sorter: Sorter) -> None:
        self.sorter = sorter
        self.store = sorter.store

    def watch_of(self, entry: LedgerEntry) -> WatchConfig:
        """The watch a filed file belongs to: the one whose inbound it came from."""
        at: LedgerEntry | None = entry
        while at is not None:
            if (watch := self.sorter.watch_for(Path(at.source))) is not None:
                return watch
            at = self.store.entry(at.prior_id) if at.prior_id is not None else None
        for watch in self.sorter.config.watches:
            if entry.path.is_relative_to(watch.destination_root):
                return watch
        raise NotFoundError(f"{entry.target}: no watch of the configuration has it")

    def place(self, entry: LedgerEntry, person: str) -> Path | None:
        """Where the file of `entry` is in `person`'s folder: its target or one of its links."""
        folder = self.watch_of(entry).destination_for(person)
        return next((Path(p) for p in (entry.target, *entry.links)
                     if p is not None and Path(p).is_relative_to(folder)), None)

    def files(self, person: str) -> list[LedgerEntry]:
        return self.store.filed_under(person)

    def decision(self, entry: LedgerEntry, faces: list[StoredFace]) -> Decision:
        return decide(report_of(entry, tuple(faces)), self.sorter.references, self.sorter.policy)

    def as_dict(self, entry: LedgerEntry, person: str, faces: list[StoredFace]) -> dict[str, Any]:
        """A filed file as `person files` lists it, with the boxes of the faces taken for them."""
        verdicts = self.decision(entry, faces).faces if faces else ()
        return {"entry": entry.id, "path": str(self.place(entry, person) or entry.path),
                "persons": entry.persons, "reason": entry.reason, "filed": entry.updated,
                "size": entry.evidence.get("size"),
                "faces": [{"n": v.face + 1, "box": list(faces[v.face].box), "person": v.person,
                           "distance": v.distance, "matched": v.matched} for v in verdicts]}

    # "Not this person"

    def taken_for(self, entry: LedgerEntry, faces: list[StoredFace], person: str,
                  face: int | None) -> list[StoredFace]:
        """The faces of a file that are taken for `person` (or face `face`, 1-based)."""
        if face is not None:
            if not 1 <= face <= len(faces):
                raise RefusedError(f"{entry.target} has no face {face} (it has {len(faces)})")
            return [faces[face - 1]]
        return [faces[v.face] for v in self.decision(entry, faces).faces
                if v.person == person and v.distance is not None and v.tolerance is not None
                and (v.matched or v.distance <= v.tolerance + SAID_MARGIN)]

    def not_person(self, entry: LedgerEntry, faces: list[StoredFace], person: str,
                   face: int | None = None) -> dict[str, Any]:
        """Faces of this file are not `person`: they become negative examples of them, and a
        file filed under them goes where the references now say (review, most often),
        journaled with the negatives it made, so that undo disables them."""
        valid_person_name(person)
        filed = entry.outcome == Outcome.SORTED and person in entry.persons
        chosen = self.taken_for(entry, faces, person, face)
        if not chosen and not filed:
            raise RefusedError(f"no face of {entry.target} is taken for {person}, and it is not"
                               f" filed under them: nothing to say")
        negatives = [self.store.add_negative(person, str(entry.path), entry.sha256, f.box, f.encoding)
                     for f in chosen]
        self.sorter.reload_references()
        result: dict[str, Any] = {"path": str(entry.path), "person": person, "negatives": negatives,
                                  "ok": True}
        if filed:
            try:
                result["path"] = str(self._refile(entry, faces, person, negatives))
            except BaseException:
                for n in negatives:  # no ledger row says so: nothing may be learnt
                    self.store.set_negative_active(n, False)
                self.sorter.reload_references()
                raise
            result["moved"] = True
        return result

    def _refile(self, entry: LedgerEntry, faces: list[StoredFace], person: str,
                negatives: list[int]) -> Path:
        watch = self.watch_of(entry)
        decision = self.decision(entry, faces)
        rule = f"not {person}, said by the user; now: {decision.rule}"
        evidence = {**entry.evidence, "rule": rule, "negatives": negatives}
        others = [p for p in decision.persons if p != person]
        subfolder = self._subfolder(entry, watch)
        if decision.outcome == Outcome.SORTED and others:
            record = Record(Outcome.SORTED, Reason.MATCHED, tuple(others), evidence, Actor.USER)
            folder = watch.destination_for(others[0]) / subfolder
        else:
            reason = decision.reason if decision.outcome == Outcome.REVIEW else Reason.UNCERTAIN
            record = Record(Outcome.REVIEW, reason, (), evidence, Actor.USER)
            folder = in_review(watch.review, Outcome.REVIEW, subfolder)
        return self.sorter.relocate(entry, folder, record,
                                    also=[watch.destination_for(p) / subfolder for p in others[1:]])

    def _subfolder(self, entry: LedgerEntry, watch: WatchConfig) -> Path:
        """Where it sat below inbound, read off its place below a person's folder."""
        for p in entry.persons:
            if entry.path.parent.is_relative_to(watch.destination_for(p)):
                return entry.path.parent.relative_to(watch.destination_for(p))
        return Path()

    # A new name

    def rename(self, old: str, new: str, *, merge: bool) -> dict[str, Any]:
        """Give `old`'s references, negative examples, filed files and references folder
        to `new`: a new name (rename), or someone already known (merge). Each file's move
        is journaled with what it carried over, so that undoing the moves gives it back."""
        valid_person_name(new)
        known = {p["name"] for p in self.store.persons()} | set(self.store.filed_persons())
        if old not in known:
            raise NotFoundError(f"no person {old!r}")
        if old == new:
            raise RefusedError(f"{old} is {new} already")
        if merge and new not in known:
            raise NotFoundError(f"no person {new!r} to merge {old} into: a new name is `person rename`")
        if not merge and new in known:
            raise RefusedError(f"{new} is someone already: `person merge {old} {new}` makes them one")
        filed = self.files(old)
        refs, negatives = self.store.move_person(old, new)
        folder_refs = self._rename_folder(old, new, refs)
        self.sorter.reload_references()
        carried = {"from": old, "into": new, "references": refs, "negatives": negatives,
                   "folder": folder_refs}
        moved = [self._rename_file(entry, old, new, carried) for entry in filed]
        return {"from": old, "into": new, "references": len(refs), "negatives": len(negatives),
                "files": moved}

    def _rename_file(self, entry: LedgerEntry, old: str, new: str, carried: dict[str, Any]) -> dict[str, Any]:
        watch = self.watch_of(entry)
        subfolder = self._subfolder(entry, watch)
        persons = list(dict.fromkeys(new if p == old else p for p in entry.persons))
        try:
            target = self.sorter.relocate(
                entry, watch.destination_for(persons[0]) / subfolder,
                Record(Outcome.SORTED, entry.reason, tuple(persons),
                       {**entry.evidence, "rule": f"{old} is {new}, said by the user; was: "
                                                  f"{entry.evidence.get('rule', '')}",
                        "renamed": carried}, Actor.USER),
                also=[watch.destination_for(p) / subfolder for p in persons[1:]])
        except (RefusedError, RouteError) as e:
            return {"path": str(entry.path), "ok": False, "why": str(e)}
        return {"path": str(target), "ok": True}

    def _rename_folder(self, old: str, new: str, refs: list[int]) -> list[list[Any]]:
        """Move `old`'s photos in the references folder into `new`'s, so that the next
        enrolment finds them under that name; returns the references' (id, old path) moved."""
        root = self.sorter.config.recognition.references
        source, target = root / old, root / new
        if not source.is_dir():
            return []
        moved = []
        if not target.exists():  # the whole folder, with what is not a reference in it too
            route.rename_noreplace(source, target)
            route.fsync_dir(root)
            for ref in (r for r in self.store.references(origin=Origin.FOLDER) if r.id in refs):
                if Path(ref.path).is_relative_to(source):
                    place = target / Path(ref.path).relative_to(source)
                    self.store.set_reference_path(ref.id, str(place))
                    moved.append([ref.id, ref.path, str(place)])
            return moved
        for ref in (r for r in self.store.references(origin=Origin.FOLDER) if r.id in refs):
            at = Path(ref.path)
            if at.is_relative_to(source) and at.exists():
                place = target / at.relative_to(source)
                place.parent.mkdir(parents=True, exist_ok=True)
                place = route.free_target(place.parent, place.name)
                route.rename_noreplace(at, place)
                self.store.set_reference_path(ref.id, str(place))
                moved.append([ref.id, str(at), str(place)])
        route.fsync_dir(target)
        try:  # an empty folder left would read as a person with nobody in it
            source.rmdir()
            route.fsync_dir(root)
        except OSError:  # not empty: what is not a reference stays where the user put it
            pass
        return moved

    # Checking what was filed

    def check(self, persons: list[str] | None = None) -> list[dict[str, Any]]:
        """The files the daemon filed under these persons (everyone's: None) that the
        references in use now would not file under them: for a person to look at, never
        moved on their own. What people filed themselves (kept, taught) is their word."""
        names = persons if persons is not None else self.store.filed_persons()
        found = []
        for person in names:
            entries = [e for e in self.files(person) if e.reason == Reason.MATCHED]
            stored = self.store.faces_of([e.sha256 for e in entries])
            for entry in entries:
                faces = stored.get(entry.sha256, [])
                if not faces:
                    continue  # filed before faces were kept: nothing to decide on again
                now = self.decision(entry, faces)
                if person not in now.persons:
                    found.append({"entry": entry.id, "path": str(self.place(entry, person) or entry.path),
                                  "person": person, "now": {"outcome": now.outcome,
                                                            "reason": now.reason, "rule": now.rule}})
        return found
