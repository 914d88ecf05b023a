"""The review queue: files the daemon would not sort, and what a person decides.

An item is the ledger's record of a file sitting in a review folder; its id is the
ledger id of the move that first put it there and stays with it (through delete and
restore) until it leaves review. Commands name items by id only, so they cannot
reach a file the ledger did not put in review. Every action is one more journaled
move (Sorter.relocate), so undo can walk it back.

Faces are not detected again: the encodings the worker found were stored when the
file went to review, so teaching, re-checking after references change and
clustering cost one matrix product, not a decode.
"""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..config import WatchConfig
from ..errors import RefusedError, UsageError
from ..policy.decide import Decision, FaceVerdict, References, decide
from ..state import LedgerEntry, Quality, Record, StoredFace
from ..vocabulary import REVIEW_OUTCOMES, Actor, Band, Origin, Outcome, Reason
from .folders import OWN_FOLDERS, in_review, own_folders
from .items import Item, reason_of, report_of, valid_person_name
from .sorter import Sorter

log = logging.getLogger("facewatchd.review")

# Items whose faces may match once references change; the others stay for a person.
RECHECKED_REASONS = (Reason.UNKNOWN_FACE, Reason.UNCERTAIN, Reason.SEVERAL_PEOPLE)
# A face is offered as "maybe them" in one click only when the next person is at least
# this much further: nearer, the suggestions are wrong too often (tests/eval/suggest.py).
SUGGEST_MARGIN = 0.03
# Other near misses, this little beyond a person's tolerance, are a hint on the tile.
HINT_MARGIN = 0.05


class ReviewQueue:
    """Reads and acts on the review items of the sorter's ledger.

    It remembers each content's stored faces and its decision against the sorter's
    references: both depend on nothing else (the sorter's policy is fixed; a reload
    makes a new sorter), so a queue of thousands is decided once, not at every
    listing, until the references change. And it keeps the last whole listing until
    the database is written: paging through 5,000 items costs the first page only.
    """

    def __init__(self, sorter: Sorter) -> None:
        self.sorter = sorter
        self.store = sorter.store
        self._decided: dict[str, tuple[tuple[StoredFace, ...], Decision]] = {}
        self._decided_with: References | None = None
        # (deleted, the database's generation, the references, the items)
        self._listed: tuple[bool, int, References, list[Item]] | None = None
        # Items in a review folder the configuration no longer names (watch.N.review
        # changed at run time): entry id → its watch and that folder.
        self._former: dict[int, tuple[WatchConfig, Path] | None] = {}

    def entries(self, *, reason: str | None = None, ids: list[int] | None = None,
                deleted: bool = False) -> list[LedgerEntry]:
        """The ledger rows of the items in review (or, with `deleted`, in its trash),
        oldest first; cheap: no faces are read and nothing is decided."""
        return [e for e in self.store.current((Outcome.TRASH,) if deleted else REVIEW_OUTCOMES, item_ids=ids)
                if self._home(e) is not None  # else its folder left the config
                and (reason is None or reason_of(e) == reason)]

    def iter_items(self, entries: list[LedgerEntry]) -> Iterator[Item]:
        """The items of `entries`, decided against the references in use now; the
        faces not remembered are read 500 files at a time."""
        references = self.sorter.references
        if self._decided_with is not references:
            self._decided, self._decided_with = {}, references
        for start in range(0, len(entries), 500):
            chunk = entries[start:start + 500]
            faces = self.store.faces_of(sorted({e.sha256 for e in chunk} - self._decided.keys()))
            sources = self.store.sources([e.item for e in chunk])
            for entry in chunk:
                home = self._home(entry)
                if home is None:
                    continue  # its review folder left the configuration
                if entry.sha256 not in self._decided:
                    found = tuple(faces.get(entry.sha256, ()))
                    self._decided[entry.sha256] = (found, decide(report_of(entry, found), references,
                                                                 self.sorter.policy))
                found, decision = self._decided[entry.sha256]
                yield Item(entry, *home, found, decision, sources.get(entry.item, entry.source))

    def items(self, *, reason: str | None = None, person: str | None = None,
              limit: int | None = None, ids: list[int] | None = None,
              deleted: bool = False) -> list[Item]:
        """The items in review (or, with `deleted`, in its trash), oldest first."""
        return self.page(reason=reason, person=person, limit=limit, ids=ids, deleted=deleted)[0]

    def page(self, *, reason: str | None = None, person: str | None = None,
             limit: int | None = None, offset: int = 0, ids: list[int] | None = None,
             deleted: bool = False, order: str = "oldest") -> tuple[list[Item], int]:
        """`limit` items from `offset` on, and how many there are in all. Oldest first
        and without a person to match, only the page's items are decided."""
        end = None if limit is None else offset + limit
        if person is None and order == "oldest":
            entries = self.entries(reason=reason, ids=ids, deleted=deleted)
            return list(self.iter_items(entries[offset:end])), len(entries)
        matching = self.listing(reason=reason, person=person, ids=ids, deleted=deleted, order=order)
        return matching[offset:end], len(matching)

    def listing(self, *, reason: str | None = None, person: str | None = None,
                ids: list[int] | None = None, deleted: bool = False,
                order: str = "oldest") -> list[Item]:
        """Every matching item, oldest first, or with order "suggested" the "maybe NAME"
        groups first (see by_suggestion)."""
        wanted = None if ids is None else set(ids)
        items = [item for item in self._everything(deleted)
                 if (reason is None or item.reason == reason) and (wanted is None or item.id in wanted)
                 and (person is None or item.nearest()[0] == person)]
        return self.by_suggestion(items) if order == "suggested" else items

    def _everything(self, deleted: bool) -> list[Item]:
        """Every item in review (or its trash), read again only once the database was
        written (the daemon is its one writer) or the references changed."""
        key = (deleted, self.store.generation)
        if self._listed is None or self._listed[:2] != key or self._listed[2] is not self.sorter.references:
            entries = self.entries(deleted=deleted)
            if not deleted:
                self._forget_all_but(entries)
            self._listed = (*key, self.sorter.references, list(self.iter_items(entries)))
        return self._listed[3]

    def _forget_all_but(self, entries: list[LedgerEntry]) -> None:
        """Drop what is remembered of contents that left the queue, once they are many."""
        if len(self._decided) > 2 * len(entries) + 1000:
            kept = {e.sha256 for e in entries}
            self._decided = {sha: known for sha, known in self._decided.items() if sha in kept}

    def find(self, item_id: int) -> Item | None:
        """The item with this id, in review or in its trash."""
        found = self.items(ids=[item_id]) or self.items(ids=[item_id], deleted=True)
        return found[0] if found else None

    def suggestion(self, item: Item) -> dict[str, Any] | None:
        """"Maybe NAME", offered as a one-click group: the nearest person to one of the
        item's faces that match nobody, only where that is right 9 times in 10 on a
        queue of mostly strangers (tests/eval/suggest.py, docs/recognition.md): the face
        is within their tolerance with the support a match needs, and missed only
        because another person is nearly as close (by 0.03 or more) or it is small."""
        if item.reason not in (Reason.UNKNOWN_FACE, Reason.UNCERTAIN):
            return None
        min_support = self.sorter.policy.min_support
        near = [v for v in item.decision.faces
                if v.person is not None and v.distance is not None and v.tolerance is not None
                and not v.matched and v.negative is None and v.band == Band.UNCERTAIN
                and v.distance <= v.tolerance and v.support >= min(min_support, v.references)
                and (v.margin is None or v.margin >= SUGGEST_MARGIN)]
        return self._offer(near)

    def hint(self, item: Item) -> dict[str, Any] | None:
        """A near miss, shown on the item's tile but never offered as a group: the nearest
        person of a face that matches nobody, within HINT_MARGIN beyond their tolerance."""
        if item.reason not in (Reason.UNKNOWN_FACE, Reason.UNCERTAIN):
            return None
        return self._offer([v for v in item.decision.faces
                            if v.person is not None and v.distance is not None and v.tolerance is not None
                            and not v.matched and v.negative is None
                            and v.distance <= v.tolerance + HINT_MARGIN])

    @staticmethod
    def _offer(near: list[FaceVerdict]) -> dict[str, Any] | None:
        if not near:
            return None
        best = min(near, key=lambda v: v.distance or 0.0)
        return {"person": best.person, "distance": best.distance, "face": best.face + 1, "band": best.band,
                "reference": best.reference}

    def by_suggestion(self, items: list[Item]) -> list[Item]:
        """The "maybe NAME" groups first (the group with the nearest face first, each
        group nearest first), then every other item, oldest first."""
        suggested = {item.id: self.suggestion(item) for item in items}
        best: dict[str, float] = {}
        for s in suggested.values():
            if s is not None:
                best[s["person"]] = min(best.get(s["person"], s["distance"]), s["distance"])

        def key(item: Item) -> tuple[int, float, str, float]:
            s = suggested[item.id]
            if s is None:
                return (1, 0.0, "", 0.0)
            return (0, best[s["person"]], s["person"], s["distance"])

        return sorted(items, key=key)  # stable: ties stay oldest first

    def select(self, ids: list[int] | None, everything: bool, *, deleted: bool = False,
               reason: str | None = None, person: str | None = None,
               limit: int | None = None) -> Iterator[Item | tuple[int, str]]:
        """The items a batch command names: by id, or all matching the filters, one at a
        time. An id that is not an item comes back as (id, why)."""
        if everything and ids:
            raise UsageError("name items by id or give --all (with filters), not both")
        if not everything and not ids:
            raise UsageError("say which items: their ids (see review list), or --all (with "
                             "--reason, --nearest)")
        if everything:
            found = self.iter_items(self.entries(reason=reason, deleted=deleted))
            if person is not None:
                found = (item for item in found if item.nearest()[0] == person)
            yield from itertools.islice(found, limit)
            return
        assert ids is not None
        known = {item.id: item for item in self.iter_items(self.entries(ids=ids, deleted=deleted))}
        where = "the review trash" if deleted else "review"
        for i in dict.fromkeys(ids):
            yield known.get(i) or (i, f"no item {i} in {where}")

    def _home(self, entry: LedgerEntry) -> tuple[WatchConfig, Path] | None:
        """The watch an item is of, and the review folder it sits in: a review folder of
        the configuration, or one a watch had before its `review` was changed at run time
        (its items stay listed where they are; new ones go to the new folder)."""
        for watch in self.sorter.config.watches:
            if entry.path.is_relative_to(watch.review):
                return watch, watch.review
        if entry.id not in self._former:
            self._former[entry.id] = self._former_home(entry)
        return self._former[entry.id]

    def _former_home(self, entry: LedgerEntry) -> tuple[WatchConfig, Path] | None:
        source = Path(self.store.sources([entry.item]).get(entry.item, entry.source))
        watch = self.sorter.watch_for(source)
        if watch is None:
            return None
        # It went to REVIEW[/own folder]/SUBFOLDER, SUBFOLDER where it sat below inbound.
        depth = len(source.parent.relative_to(watch.inbound).parts) + (entry.outcome in OWN_FOLDERS)
        review = entry.path.parent.parents[depth - 1] if depth else entry.path.parent
        return watch, review

    # What a person decides

    def keep(self, item: Item, person: str | None = None, to: str | None = None) -> dict[str, Any]:
        """Move the item to `person`'s folder, or else into the folder `to` (keeping the
        subfolder it arrived in, as sorting does), teaching nothing."""
        if person is not None:
            folder = item.watch.destination_for(valid_person_name(person)) / item.subfolder
            rule = f"kept by the user as {person}"
        elif to is not None:
            folder = self._allowed_folder(to) / item.subfolder
            rule = f"kept by the user in {folder}"
        else:
            raise UsageError("say where to: a person or a folder")
        target = self.sorter.relocate(item.entry, folder, Record(
            Outcome.SORTED, Reason.KEPT, (person,) if person else (),
            {**item.entry.evidence, "rule": rule}, Actor.USER))
        return {"id": item.id, "ok": True, "path": str(target)}

    def _allowed_folder(self, to: str) -> Path:
        """`to` if it lies in a destination or review folder of the configuration."""
        folder = Path(os.path.realpath(to))
        for watch in self.sorter.config.watches:
            if any(folder.is_relative_to(os.path.realpath(own)) for own in own_folders(watch.review)):
                raise RefusedError(f"{to} is one of the review folder's own folders (duplicates,"
                                   " failed, trash): a file kept there would be taken for an item")
            for root in (watch.destination_root, watch.review):
                if folder.is_relative_to(os.path.realpath(root)):
                    return folder
        raise RefusedError(f"{to} is not inside a destination or review folder of the configuration")

    def teach(self, item: Item, person: str, face: int | None = None) -> dict[str, Any]:
        """Make face `face` (1-based) of the item a reference of `person`, then file it there."""
        valid_person_name(person)
        if not item.faces:
            raise RefusedError(f"item {item.id} has no face to learn from")
        if face is None:
            if len(item.faces) > 1:
                raise RefusedError(f"item {item.id} has {len(item.faces)} faces: say which is "
                                   f"{person} with --face 1..{len(item.faces)}")
            face = 1
        if not 1 <= face <= len(item.faces):
            raise RefusedError(f"item {item.id} has no face {face} (it has {len(item.faces)})")
        chosen = item.faces[face - 1]
        ref = self.store.add_reference(person, Origin.REVIEW, str(item.path), item.entry.sha256,
                                       chosen.box, chosen.encoding, Quality.of(chosen))
        return self._file_taught(item, person, ref, face - 1, dict(item.entry.evidence),
                                 f"face {face} taught as {person} by the user")

    def add_face(self, item: Item, person: str, box: tuple[int, int, int, int],
                 encoding: np.ndarray) -> dict[str, Any]:
        """A face the detector missed, drawn by a person (`box`, upright pixels) and encoded
        by their client: a face of the item from now on, a reference of `person` (origin
        "drawn"), and the item filed under them."""
        valid_person_name(person)
        top, right, bottom, left = box
        width, height = item.entry.evidence.get("size") or (0, 0)
        if not (0 <= left < right and 0 <= top < bottom) or (width and height and (right > width or bottom > height)):
            raise RefusedError(f"the box {list(box)} is not inside the photo ({width} x {height})")
        index = self.store.add_stored_face(item.entry.sha256, box, encoding)
        side = float(min(right - left, bottom - top))
        ref = self.store.add_reference(person, Origin.DRAWN, str(item.path), item.entry.sha256, box,
                                       encoding, Quality(side=side))
        evidence = dict(item.entry.evidence)
        evidence["faces"] = [*evidence.get("faces", []),
                             {"box": list(box), "score": 0.0, "person": person, "drawn": True}]
        return self._file_taught(item, person, ref, index, evidence,
                                 f"a face drawn by the user, taught as {person}")

    def _file_taught(self, item: Item, person: str, ref: int, face: int, evidence: dict[str, Any],
                     rule: str) -> dict[str, Any]:
        """File the item under `person`, its move teaching reference `ref` (face `face`, 0-based)."""
        folder = item.watch.destination_for(person) / item.subfolder
        try:
            target = self.sorter.relocate(item.entry, folder, Record(
                Outcome.SORTED, Reason.TAUGHT, (person,),
                {**evidence, "rule": rule, "confirmed": {str(face): person}},
                Actor.USER, taught=[ref]))
        except BaseException:
            # Refused or not moved: no ledger row teaches it, so nothing may be learnt.
            self.store.forget_reference(ref)
            raise
        return {"id": item.id, "ok": True, "path": str(target), "reference": ref}

    def delete(self, item: Item) -> dict[str, Any]:
        """Move the item into the review folder's trash/, kept for trash_days."""
        folder = in_review(item.review, Outcome.TRASH, item.subfolder)
        target = self.sorter.relocate(item.entry, folder, Record(
            Outcome.TRASH, item.entry.reason, (), {**item.entry.evidence, "was": item.entry.outcome},
            Actor.USER, item_id=item.id))
        return {"id": item.id, "ok": True, "path": str(target)}

    def restore(self, item: Item) -> dict[str, Any]:
        """Bring a deleted item back to review, as it was."""
        record = dict(item.entry.evidence)
        outcome = Outcome(record.pop("was", Outcome.REVIEW))
        folder = in_review(item.review, outcome, item.subfolder)
        target = self.sorter.relocate(item.entry, folder, Record(
            outcome, item.entry.reason, (), record, Actor.USER, item_id=item.id))
        return {"id": item.id, "ok": True, "path": str(target)}
