"""Undo: put files back where they were before, from the ledger.

Each move of a file is a ledger row pointing back to the one before, so undoing is
walking that chain back to the first move made after the given time and moving the
file to where that move found it. An action's own undo (the review page's) names the
rows it made instead, and walks back exactly those, whatever else moved meanwhile:

- a file the daemon took from inbound goes back to inbound (to inbound's top folder
  if its subfolder is gone) and is held there: it is not sorted again until it is
  changed or moved (or touched: then at the next scan, e.g. `facewatchctl scan`);
- a file taken from review goes back to review as the same item.

References taught by an undone action are disabled. Nothing is overwritten: a
name that is taken gets a `_1` suffix.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Generator
from datetime import datetime
from pathlib import Path
from typing import Any

from ..errors import RefusedError, RouteError, UsageError
from ..state import LedgerEntry, Record, Store
from ..steps import Counted
from ..vocabulary import Actor, Outcome, Reason
from . import route, xmp
from .sorter import Sorter

log = logging.getLogger("facewatchd.undo")

UNDOABLE = (Outcome.SORTED, Outcome.REVIEW, Outcome.DUPLICATE, Outcome.FAILED, Outcome.TRASH)
USER_ACTORS = (Actor.USER, Actor.RECHECK)  # moves people made, and the re-checks those caused
_RELATIVE = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_since(text: str, now: float | None = None) -> float:
    """'30m', '2h', '3d' ago, a local date and time ('2026-11-22 10:00', '10:00'), or
    '@1763805600.5', seconds since the epoch (what the review page sends)."""
    now = time.time() if now is None else now
    if re.fullmatch(r"@\d+(\.\d+)?", text.strip()):
        return float(text.strip()[1:])
    if match := _RELATIVE.fullmatch(text.strip()):
        return now - float(match[1]) * _UNITS[match[2]]
    try:
        if re.fullmatch(r"\d{1,2}:\d{2}(:\d{2})?", text.strip()):
            today = datetime.fromtimestamp(now).date().isoformat()
            return datetime.fromisoformat(f"{today} {text.strip()}").timestamp()
        return datetime.fromisoformat(text.strip()).timestamp()
    except ValueError:
        raise UsageError(f"{text!r} is not a time: give 30m, 2h, 3d, 10:00, "
                         "2026-11-22 10:00 or @UNIXTIME") from None


class Undo:
    def __init__(self, sorter: Sorter) -> None:
        self.sorter = sorter
        self.store = sorter.store

    def path(self, path: str, dry_run: bool = False) -> dict[str, Any]:
        """Undo the last move of the file now at `path` (with `dry_run`, only say where
        it would go)."""
        entry = self.store.current_at(os.path.normpath(path))
        if entry is None or entry.outcome not in UNDOABLE:
            raise RefusedError(f"the ledger has no file at {path} that can be put back")
        return self._rewind(self._since(entry, self._last_move(entry).created), dry_run)

    def since(self, since: float, dry_run: bool = False,
              user: bool = False) -> Generator[Counted, None, list[dict[str, Any]]]:
        """Undo every move made at or after `since`, newest first (but not undos), one
        file a step; with `dry_run`, only say what would move where. With `user`, only
        what people did and the re-checks it caused: files the daemon sorted meanwhile
        stay where it put them."""
        actors = USER_ACTORS if user else None
        entries = [e for e in self.store.current(UNDOABLE, since=since)
                   if (last := self._last_move(e)).created >= since and last.actor != Actor.UNDO
                   and (actors is None or last.actor in actors)]
        results = []
        for entry in reversed(entries):
            try:
                results.append(self._rewind(self._since(entry, since, actors), dry_run))
            except (RouteError, RefusedError) as e:
                results.append({"path": entry.target, "ok": False, "error": str(e)})
            yield Counted(len(results), len(entries))
        # What import-regions brought in since then moved no file: its references go.
        imported = self.store.imported_since(since)
        if imported and not dry_run:
            for ref in imported:
                self.store.set_reference_active(ref, False)
            self.sorter.reload_references()
        if imported:
            results.append({"path": None, "ok": True, "to": None, "disabled": imported})
        return results

    def entries(self, entry_ids: list[int],
                dry_run: bool = False) -> Generator[Counted, None, list[dict[str, Any]]]:
        """Undo exactly the moves these ledger entries made (an action's, as its answer
        named them, with the re-checks it caused), newest first, one file a step. What
        anyone else moved meanwhile stays as it is: a file moved again since is not put
        back (the later move is not this action's to undo)."""
        results = []
        wanted = sorted(set(entry_ids), reverse=True)
        for entry_id in wanted:
            entry = self.store.entry(entry_id)
            try:
                result = self._rewind(self._made_by(entry_id, entry), dry_run)
            except (RouteError, RefusedError) as e:
                result = {"path": entry.target if entry else None, "ok": False, "error": str(e)}
            results.append({"entry": entry_id, **result})
            yield Counted(len(results), len(wanted))
        return results

    def _last_move(self, entry: LedgerEntry) -> LedgerEntry:
        """The last row of a file's history in which the file itself moved (a sidecar
        joining it is not one)."""
        while entry.actor == Actor.SIDECAR and entry.prior_id is not None:
            entry = self.store.linked(entry.prior_id)
        return entry

    def _since(self, entry: LedgerEntry, since: float,
               actors: tuple[str, ...] | None = None) -> list[LedgerEntry]:
        """The moves to walk back of the file `entry` says where it is: those made at or
        after `since` (by `actors`), newest first."""
        chain = [entry]
        while chain[-1].prior_id is not None:
            before = self.store.linked(chain[-1].prior_id)
            if (before.created < since or before.actor == Actor.UNDO or before.outcome == Outcome.UNDONE
                    or (actors is not None and before.actor not in (*actors, Actor.SIDECAR))):
                break
            chain.append(before)
        while len(chain) > 1 and chain[-1].actor == Actor.SIDECAR:
            chain.pop()  # the moves to undo begin with one of the file itself
        return chain

    def _made_by(self, entry_id: int, entry: LedgerEntry | None) -> list[LedgerEntry]:
        """The moves to walk back to undo the one of ledger entry `entry_id`: it, and the
        sidecars that joined its file since, newest first; refused if the file itself
        moved again since."""
        if (entry is None or entry.state != "done" or entry.outcome not in UNDOABLE
                or entry.actor in (Actor.UNDO, Actor.SIDECAR)):
            raise RefusedError(f"ledger entry {entry_id} is not a move that can be undone")
        chain = [self.store.current_of(entry)]
        while chain[-1].id != entry.id:
            if chain[-1].actor != Actor.SIDECAR or chain[-1].prior_id is None:
                raise RefusedError(f"{entry.target} was moved again since (by {chain[-1].actor},"
                                   f" to {chain[-1].target}): it stays there")
            chain.append(self.store.linked(chain[-1].prior_id))
        return chain

    def _rewind(self, chain: list[LedgerEntry], dry_run: bool) -> dict[str, Any]:
        """Put the file back where it was before the moves of `chain` (newest first:
        the first says where it is now)."""
        entry, first = chain[0], chain[-1]
        previous = self.store.linked(first.prior_id) if first.prior_id is not None else None
        disabled = [ref for e in chain for ref in e.taught]
        if dry_run:
            to = (previous.path if previous is not None and previous.outcome != Outcome.UNDONE
                  else self._inbound_place(Path(first.source)))
            return {"path": entry.target, "ok": True, "to": str(to), "disabled": disabled}
        for e in chain:  # what these moves wrote into its sidecar, taken back newest first
            if "xmp" in e.evidence:
                xmp.revert(e.evidence["xmp"], xmp.sidecar_of(entry.path))
        if previous is None or previous.outcome == Outcome.UNDONE:
            target = self._to_inbound(entry, Path(first.source))
        else:
            # Back as it was, with the decision it had, and filed again under everyone it
            # was filed under (a "not" may have taken it from one of several).
            target = self.sorter.relocate(
                entry, previous.path.parent, Record(previous.outcome, previous.reason, previous.persons,
                                                    previous.evidence, Actor.UNDO,
                                                    item_id=previous.item_id),
                name=previous.path.name, also=[Path(link).parent for link in previous.links])
        for ref in disabled:
            self.store.set_reference_active(ref, False)
        said = [n for e in chain for n in e.evidence.get("negatives", ())]
        for negative in said:  # "not this person", taken back
            self.store.set_negative_active(negative, False)
        for e in chain:
            if "renamed" in e.evidence:
                _give_back(self.store, e.evidence["renamed"])
        if disabled or said or any("renamed" in e.evidence for e in chain):
            self.sorter.reload_references()
        return {"path": entry.target, "ok": True, "to": str(target), "disabled": disabled}

    def _inbound_place(self, source: Path) -> Path:
        """Where a file found at `source` goes back to: there, or to its inbound folder's
        top if its subfolder is gone."""
        watch = self.sorter.watch_for(source)
        if watch is None:
            raise RefusedError(f"{source} is not in an inbound folder of the configuration any more")
        return (source.parent if source.parent.is_dir() else watch.inbound) / source.name

    def _to_inbound(self, entry: LedgerEntry, source: Path) -> Path:
        place = self._inbound_place(source)
        try:
            st = os.lstat(entry.path)
        except OSError as e:
            raise RouteError(f"{entry.target}: {e.strerror}") from None
        record = {**entry.evidence, "rule": f"undone by the user: it was {entry.outcome} at "
                                            f"{entry.target}", "held_mtime_ns": st.st_mtime_ns}
        target = self.sorter.relocate(entry, place.parent, Record(
            Outcome.UNDONE, Reason.UNDONE, (), record, Actor.UNDO), name=place.name)
        undone = self.store.current_at(str(target))
        assert undone is not None  # the move just made
        self.sorter.held[str(target)] = (entry.size, st.st_mtime_ns, undone.id)
        return target


def _give_back(store: Store, renamed: dict[str, Any]) -> None:
    """Undo a rename or merge (files/people.py): the references and negative examples it
    carried are the first person's again, with their photos back in their folder. Only
    once: an undo of the next file of the same rename finds nothing left to give back."""
    store.move_person(renamed["into"], renamed["from"], references=renamed["references"],
                      negatives=renamed["negatives"])
    for ref, before, after in renamed.get("folder", ()):
        if os.path.exists(after) and not os.path.lexists(before):
            os.makedirs(os.path.dirname(before), exist_ok=True)
            route.rename_noreplace(Path(after), Path(before))
            store.set_reference_path(ref, before)
