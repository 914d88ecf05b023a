"""The journaled move: intent in the ledger, then the move and its links, then done.

Every move of a file the daemon makes (sorting, review actions, re-checks, undo,
purging the trash) goes through `Journal`, so each is one row of the ledger that
says 'moving' before anything on disk changes and 'done' after:

    begin (row: source, target, hash, decision)  →  route.move  →  links  →  finish

Links (a photo of several people filed under each of them) are journaled one by
one in the same row before each is made, so after a crash `recover` knows every
name it may have to finish or remove. `recover` settles every row still 'moving'
at start-up: a move whose target holds the right bytes is finished, one whose file
is still (or back) at its source is rolled back, and the file is sorted again.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from . import route
from .errors import RouteError
from .report import Signature
from .store import LedgerEntry, Store

log = logging.getLogger("facewatchd.journal")


@dataclass(frozen=True)
class Moved:
    entry_id: int
    target: Path
    links: tuple[Path, ...]


class Journal:
    def __init__(self, store: Store, progress: route.Progress = route._nothing) -> None:
        self.store = store
        self.progress = progress

    def move(self, source: Path, folder: Path, *, signature: Signature, sha256: str,
             size: int, name: str | None = None, also: Sequence[Path] = (),
             **row: Any) -> Moved:
        """Move the file at `source` into `folder` (as `name`, or its own name, made
        unique) and link it into each folder of `also`; `row` is the rest of the ledger
        row (outcome, reason, persons, evidence, actor...).

        Raises RouteError, with the file where it was, when it cannot be moved.
        """
        target = route.free_target(folder, name or source.name)
        entry_id = self.store.begin_move(sha256=sha256, size=size, source=str(source),
                                         target=str(target), **row)
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
        links = self._link(entry_id, target, also)
        self.store.finish_move(entry_id, [str(p) for p in links])
        return Moved(entry_id, target, tuple(links))

    def _link(self, entry_id: int, target: Path, folders: Sequence[Path]) -> list[Path]:
        """A hard link (or a copy) of `target` in each further folder, each journaled
        before it is made."""
        links: list[Path] = []
        planned: list[str] = []
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
        return links

    def delete(self, entry: LedgerEntry, **row: Any) -> None:
        """Delete the file the ledger has at `entry.target` for good, journaled.
        Raises RouteError when it cannot be deleted; the file stays."""
        path = Path(entry.target)
        entry_id = self.store.begin_move(sha256=entry.sha256, size=entry.size, source=str(path),
                                         target=None, prior_id=entry.id, item_id=entry.item_id,
                                         **row)
        try:
            path.unlink()
        except OSError as e:
            self.store.abandon_move(entry_id, e.strerror or str(e))
            raise RouteError(f"cannot delete {path}: {e.strerror or e}") from None
        self.store.finish_move(entry_id)

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
                links = self._recover_links(entry) if entry.target is not None else []
                self.store.finish_move(entry.id, links)
                log.info("finished the interrupted move of %s to %s", source, entry.target)
            else:
                self._remove_link_temps(entry)
                self.store.abandon_move(entry.id, "interrupted before the move; sorted again")
                log.info("rolled back the interrupted move of %s", source)
        return len(entries)

    def _recover_links(self, entry: LedgerEntry) -> list[str]:
        """The planned links of a finished move: keep those made, make the missing ones."""
        target = Path(entry.target)
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


def link_tag(entry_id: int, n: int) -> str:
    """The journal's tag of the `n`th link of a move: names its temporary copy."""
    return f"{entry_id}-{n}"
