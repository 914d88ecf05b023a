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
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any, TypeVar, cast

import numpy as np

from ..config import WatchConfig
from ..errors import RefusedError, UsageError
from ..policy.cluster import Neighbourhoods
from ..policy.decide import Decision, References, decide
from ..state import LedgerEntry, Quality, Record, StoredFace
from ..vocabulary import REVIEW_OUTCOMES, Actor, Origin, Outcome, Reason
from .folders import OWN_FOLDERS, in_review, own_folders
from .items import Item, reason_of, report_of, valid_person_name
from .listing import CurrentRows
from .sorter import Sorter
from .suggest import hint, suggestion

log = logging.getLogger("facewatchd.review")
T = TypeVar("T")

# Items whose faces may match once references change; the others stay for a person.
RECHECKED_REASONS = (Reason.UNKNOWN_FACE, Reason.UNCERTAIN, Reason.SEVERAL_PEOPLE)
# Items decided between two points where the loop may do other things (prepare):
# ~0.4 ms each (docs/performance.md), so a step stays well under a tenth of a second.
DECIDED_A_STEP = 100


class ReviewQueue:
    """Reads and acts on the review items of the sorter's ledger.

    It remembers each content's stored faces and its decision against the sorter's
    references: both depend on nothing else (the sorter's policy is fixed; a reload
    makes a new sorter), so a queue of thousands is decided once, not at every
    listing, until the references change; and each item, with its suggestion. The
    queue's rows are read incrementally (files/listing.py), and the "suggested" order
    is kept until the rows or the references change, so paging through 100,000 items
    costs the first page only. Deciding what is not decided yet is long work, a step
    every DECIDED_A_STEP items (prepare): the handlers of long listings do that first.
    """

    def __init__(self, sorter: Sorter) -> None:
        self.sorter = sorter
        self.store = sorter.store
        self._decided: dict[str, tuple[tuple[StoredFace, ...], Decision]] = {}
        self._decided_with: References | None = None
        self._current = {False: CurrentRows(self.store, REVIEW_OUTCOMES),
                         True: CurrentRows(self.store, (Outcome.TRASH,))}
        # Against _decided_with: row id → its item; row id → its (suggestion, hint).
        self._items: dict[int, Item] = {}
        self._offers: dict[int, tuple[dict[str, Any] | None, dict[str, Any] | None]] = {}
        # deleted → (the rows' version, the references, what was worked out of them all).
        self._whole: dict[bool, tuple[int, References | None, dict[Any, Any]]] = {}
        # Row id → the watch the item is of and the review folder it is in (or None: a
        # folder the configuration no longer names nor had, see _home).
        self._homes: dict[int, tuple[WatchConfig, Path] | None] = {}
        # files/clusters.py's: the unknown faces' neighbourhoods, and the clusters last
        # found (the references, what else they were found with, the clusters).
        self.neighbourhoods = Neighbourhoods()
        self.clustered: tuple[References, tuple[Any, ...], list[Any]] | None = None

    def entries(self, *, reason: str | None = None, ids: list[int] | None = None,
                deleted: bool = False) -> list[LedgerEntry]:
        """The ledger rows of the items in review (or, with `deleted`, in its trash),
        oldest first; cheap: no faces are read and nothing is decided. By id, read from
        the database; else from the rows kept up to date (files/listing.py)."""
        if ids is None:
            rows = self.remembered(deleted, "entries", lambda: [
                e for e in self._current[deleted].rows() if self._home(e) is not None])
            return rows if reason is None else [e for e in rows if reason_of(e) == reason]
        rows = self.store.current((Outcome.TRASH,) if deleted else REVIEW_OUTCOMES, item_ids=ids)
        return [e for e in rows
                if self._home(e) is not None  # else its folder left the config
                and (reason is None or reason_of(e) == reason)]

    def remembered(self, deleted: bool, key: Any, make: Callable[[], T]) -> T:
        """What `make` works out of the whole queue (or its trash), made once until its
        rows or the references change. Shared: do not change it."""
        current = self._current[deleted]
        current.rows()
        self._against_references()
        kept = self._whole.get(deleted)
        if kept is None or kept[0] != current.version or kept[1] is not self._decided_with:
            kept = self._whole[deleted] = (current.version, self._decided_with, {})
        if key not in kept[2]:
            kept[2][key] = make()
        return cast(T, kept[2][key])

    def rows_version(self) -> int:
        """Changes whenever the queue's rows do (an item comes, goes, or moves)."""
        self._current[False].rows()
        return self._current[False].version

    def _against_references(self) -> dict[int, Item]:
        """The items remembered, forgotten once the references changed."""
        references = self.sorter.references
        if self._decided_with is not references:
            self._decided, self._decided_with = {}, references
            self._items, self._offers = {}, {}
        return self._items

    def iter_items(self, entries: list[LedgerEntry]) -> Iterator[Item]:
        """The items of `entries`, decided against the references in use now; the
        faces not remembered are read 500 files at a time."""
        known = self._against_references()
        references = self.sorter.references
        for start in range(0, len(entries), 500):
            chunk = entries[start:start + 500]
            new = [e for e in chunk if e.id not in known]
            if new:
                faces = self.store.faces_of(sorted({e.sha256 for e in new} - self._decided.keys()))
                sources = self.store.sources([e.item for e in new])
            for entry in chunk:
                item = known.get(entry.id)
                if item is None:
                    home = self._home(entry)
                    if home is None:
                        continue  # its review folder left the configuration
                    if entry.sha256 not in self._decided:
                        found = tuple(faces.get(entry.sha256, ()))
                        self._decided[entry.sha256] = (found, decide(report_of(entry, found), references,
                                                                     self.sorter.policy))
                    found, decision = self._decided[entry.sha256]
                    item = Item(entry, *home, found, decision, sources.get(entry.item, entry.source))
                    known[entry.id] = item
                yield item

    def prepare(self, deleted: bool = False, order: str = "oldest") -> Generator[None, None, None]:
        """Long work (steps.py): decide every item not decided yet, with its suggestion,
        DECIDED_A_STEP items a step, then list them all (in `order`) a step each, so
        that the listings after it find it all done."""
        current = self._current[deleted]
        yield from current.read()
        if not self.remembered(deleted, "prepared", lambda: False):
            yield from self._decide_all(deleted)
        if order == "suggested" and "suggested" not in self._whole[deleted][2]:
            self._everything(deleted)
            yield
            self._suggested(deleted)

    def _decide_all(self, deleted: bool) -> Generator[None, None, None]:
        current = self._current[deleted]
        while True:
            homeless = [e for e in current.rows() if e.id not in self._homes]
            for start in range(0, len(homeless), 50 * DECIDED_A_STEP):  # where each is: ~3 µs
                for entry in homeless[start:start + 50 * DECIDED_A_STEP]:
                    self._home(entry)
                yield
            known = self._against_references()
            todo = [e for e in self.entries(deleted=deleted) if e.id not in known]
            if not todo:
                self._whole[deleted][2]["prepared"] = True
                return
            for start in range(0, len(todo), DECIDED_A_STEP):
                for item in self.iter_items(todo[start:start + DECIDED_A_STEP]):
                    self._offered(item)
                yield

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
        if order == "suggested":
            everything = self._suggested(deleted)
        else:
            everything = self._everything(deleted)
        if reason is None and wanted is None and person is None:
            return everything  # shared: see remembered
        return [item for item in everything
                if (reason is None or item.reason == reason) and (wanted is None or item.id in wanted)
                and (person is None or item.nearest()[0] == person)]

    def _suggested(self, deleted: bool) -> list[Item]:
        """Every item in the "suggested" order, remembered (a filter keeps that order:
        by_suggestion is stable)."""
        return self.remembered(deleted, "suggested", lambda: self.by_suggestion(self._everything(deleted)))

    def _everything(self, deleted: bool) -> list[Item]:
        """Every item in review (or its trash): those remembered, and the others decided
        now (long work: see prepare)."""
        return self.remembered(deleted, "items", lambda: self._all_items(deleted))

    def _all_items(self, deleted: bool) -> list[Item]:
        entries = self.entries(deleted=deleted)
        if not deleted:
            self._forget_all_but(entries)
        return list(self.iter_items(entries))

    def _forget_all_but(self, entries: list[LedgerEntry]) -> None:
        """Drop what is remembered of items and contents that left the queue, once they
        are many."""
        if len(self._items) > 2 * len(entries) + 1000:
            rows = {e.id for e in entries} | {e.id for e in self._current[True].rows()}
            self._items = {i: item for i, item in self._items.items() if i in rows}
            self._offers = {i: offer for i, offer in self._offers.items() if i in rows}
            self._homes = {i: home for i, home in self._homes.items() if i in rows}
        if len(self._decided) > 2 * len(entries) + 1000:
            kept = {e.sha256 for e in entries}
            self._decided = {sha: known for sha, known in self._decided.items() if sha in kept}

    def find(self, item_id: int) -> Item | None:
        """The item with this id, in review or in its trash."""
        found = self.items(ids=[item_id]) or self.items(ids=[item_id], deleted=True)
        return found[0] if found else None

    def suggestion(self, item: Item) -> dict[str, Any] | None:
        """"Maybe NAME" (files/suggest.py), remembered."""
        return self._offered(item)[0]

    def hint(self, item: Item) -> dict[str, Any] | None:
        """A near miss (files/suggest.py), remembered."""
        return self._offered(item)[1]

    def _offered(self, item: Item) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """The item's suggestion and hint, remembered while the references stay."""
        offers = self._offers if self._decided_with is self.sorter.references else {}
        found = offers.get(item.entry.id)
        if found is None:
            found = offers[item.entry.id] = (suggestion(item, self.sorter.policy.min_support), hint(item))
        return found

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
        if entry.id not in self._homes:
            self._homes[entry.id] = next(((watch, watch.review) for watch in self.sorter.config.watches
                                          if entry.path.is_relative_to(watch.review)), None) \
                or self._former_home(entry)
        return self._homes[entry.id]

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
