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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import WatchConfig
from ..engine.report import Face, FaceReport
from ..errors import RefusedError, RouteError, UsageError
from ..policy.decide import Decision, decide
from ..state import REVIEW_OUTCOMES, LedgerEntry, StoredFace
from .sorter import DUPLICATES, FAILED, Sorter

log = logging.getLogger("facewatchd.review")

TRASH = "trash"  # the review folder's subfolder for deleted items
ORIGIN_REVIEW = "review"  # references taught from the queue
# Items whose faces may match once references change; the others stay for a person.
RECHECKED_REASONS = ("unknown_face", "uncertain", "several_people")


def valid_person_name(name: str) -> str:
    """A person's name becomes a folder name: refuse what cannot or should not be one."""
    if (not name or len(os.fsencode(name)) > 200 or name.startswith(".") or "/" in name
            or any(ord(c) < 32 for c in name)):
        raise UsageError(f"{name!r} cannot be a person's folder name")
    return name


@dataclass(frozen=True)
class Item:
    entry: LedgerEntry
    watch: WatchConfig
    faces: tuple[StoredFace, ...]
    decision: Decision  # against the references in use now
    source: str  # where the file was found, before it first came to review

    @property
    def id(self) -> int:
        return self.entry.item

    @property
    def path(self) -> Path:
        return self.entry.path

    @property
    def reason(self) -> str:
        return _reason(self.entry)

    @property
    def subfolder(self) -> Path:
        """Where it sat below inbound, read off its place below the review folder."""
        parts = self.path.parent.relative_to(self.watch.review).parts
        if parts and parts[0] in (DUPLICATES, FAILED, TRASH):
            parts = parts[1:]
        return Path(*parts)

    def nearest(self) -> tuple[str | None, float | None]:
        found = [(v.distance, v.person) for v in self.decision.faces if v.distance is not None]
        if not found:
            return None, None
        distance, person = min(found)
        return person, distance

    def as_dict(self) -> dict[str, Any]:
        person, distance = self.nearest()
        return {"id": self.id, "path": str(self.path), "reason": self.reason,
                "faces": len(self.faces), "person": person, "distance": distance,
                "kind": self.entry.evidence.get("kind"), "source": self.source,
                "since": self.entry.updated, "deleted": self.entry.outcome == TRASH}

    def report(self) -> FaceReport:
        return _report(self.entry, self.faces)


def _reason(entry: LedgerEntry) -> str:
    return "failed" if entry.outcome == "failed" else entry.reason


def _report(entry: LedgerEntry, faces: tuple[StoredFace, ...]) -> FaceReport:
    """The worker's report of a file, rebuilt from the ledger and the stored faces."""
    return FaceReport(str(entry.path), entry.evidence.get("kind", "image"), sha256=entry.sha256,
                      size=tuple(entry.evidence.get("size", (0, 0))),
                      faces=tuple(Face(f.box, f.encoding, f.score, f.time) for f in faces),
                      seconds=entry.evidence.get("seconds", 0.0))


class ReviewQueue:
    """Reads and acts on the review items of the sorter's ledger."""

    def __init__(self, sorter: Sorter) -> None:
        self.sorter = sorter
        self.store = sorter.store

    def entries(self, *, reason: str | None = None, ids: list[int] | None = None,
                deleted: bool = False) -> list[LedgerEntry]:
        """The ledger rows of the items in review (or, with `deleted`, in its trash),
        oldest first; cheap: no faces are read and nothing is decided."""
        return [e for e in self.store.current((TRASH,) if deleted else REVIEW_OUTCOMES, item_ids=ids)
                if self._watch_of(e.path) is not None  # else its folder left the config
                and (reason is None or _reason(e) == reason)]

    def iter_items(self, entries: list[LedgerEntry]) -> Iterator[Item]:
        """The items of `entries`, decided against the references in use now; their
        faces are read 500 files at a time."""
        for start in range(0, len(entries), 500):
            chunk = entries[start:start + 500]
            faces = self.store.faces_of(sorted({e.sha256 for e in chunk}))
            sources = self.store.sources([e.item for e in chunk])
            for entry in chunk:
                watch = self._watch_of(entry.path)
                if watch is None:
                    continue  # its review folder left the configuration
                found = tuple(faces.get(entry.sha256, ()))
                decision = decide(_report(entry, found), self.sorter.references, self.sorter.policy)
                yield Item(entry, watch, found, decision, sources.get(entry.item, entry.source))

    def items(self, *, reason: str | None = None, person: str | None = None,
              limit: int | None = None, ids: list[int] | None = None,
              deleted: bool = False) -> list[Item]:
        """The items in review (or, with `deleted`, in its trash), oldest first."""
        return self.page(reason=reason, person=person, limit=limit, ids=ids, deleted=deleted)[0]

    def page(self, *, reason: str | None = None, person: str | None = None,
             limit: int | None = None, offset: int = 0, ids: list[int] | None = None,
             deleted: bool = False) -> tuple[list[Item], int]:
        """`limit` items from `offset` on, and how many there are in all. Without a
        person to match, only the page's items are decided."""
        entries = self.entries(reason=reason, ids=ids, deleted=deleted)
        end = None if limit is None else offset + limit
        if person is None:
            return list(self.iter_items(entries[offset:end])), len(entries)
        matching = [item for item in self.iter_items(entries) if item.nearest()[0] == person]
        return matching[offset:end], len(matching)

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

    def _watch_of(self, path: Path) -> WatchConfig | None:
        for watch in self.sorter.config.watches:
            if path.is_relative_to(watch.review):
                return watch
        return None

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
        record = {**item.entry.evidence, "rule": rule}
        target = self.sorter.relocate(item.entry, folder, outcome="sorted", reason="kept",
                                      actor="user", persons=(person,) if person else (),
                                      evidence=record)
        return {"id": item.id, "ok": True, "path": str(target)}

    def _allowed_folder(self, to: str) -> Path:
        """`to` if it lies in a destination or review folder of the configuration."""
        folder = Path(os.path.realpath(to))
        for watch in self.sorter.config.watches:
            for root in (watch.destination_root, watch.review):
                if folder.is_relative_to(os.path.realpath(root)) and not folder.is_relative_to(
                        os.path.realpath(watch.review / TRASH)):
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
        ref = self.store.add_reference(person, ORIGIN_REVIEW, str(item.path), item.entry.sha256,
                                       chosen.box, chosen.encoding)
        folder = item.watch.destination_for(person) / item.subfolder
        record = {**item.entry.evidence, "rule": f"face {face} taught as {person} by the user"}
        try:
            target = self.sorter.relocate(item.entry, folder, outcome="sorted", reason="taught",
                                          actor="user", persons=(person,), evidence=record,
                                          taught=[ref])
        except RouteError:
            self.store.set_reference_active(ref, False)  # nothing happened, so nothing learnt
            raise
        return {"id": item.id, "ok": True, "path": str(target), "reference": ref}

    def delete(self, item: Item) -> dict[str, Any]:
        """Move the item into the review folder's trash/, kept for trash_days."""
        folder = item.watch.review / TRASH / item.subfolder
        target = self.sorter.relocate(item.entry, folder, outcome=TRASH, reason=item.entry.reason,
                                      actor="user", item_id=item.id,
                                      evidence={**item.entry.evidence, "was": item.entry.outcome})
        return {"id": item.id, "ok": True, "path": str(target)}

    def restore(self, item: Item) -> dict[str, Any]:
        """Bring a deleted item back to review, as it was."""
        record = dict(item.entry.evidence)
        outcome = record.pop("was", "review")
        folder = item.watch.review / {"duplicate": DUPLICATES, "failed": FAILED}.get(outcome, "")
        target = self.sorter.relocate(item.entry, folder / item.subfolder, outcome=outcome,
                                      reason=item.entry.reason, actor="user", item_id=item.id,
                                      evidence=record)
        return {"id": item.id, "ok": True, "path": str(target)}
