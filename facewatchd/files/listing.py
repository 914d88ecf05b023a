"""The ledger's current rows of the review queue (or its trash), kept up to date by
reading only the rows written since the last look.

Reading the whole queue again after every write (the daemon writes a row for every
file it sorts) made each listing of a 100,000-item queue cost seconds while files
arrive (docs/performance.md, "Queues of 100,000"). A row changes what is current in one
way only: a move finished (Ledger.finish_move) makes its row current and its prior row
not (next_id), so the rows past the last one read, and the rows read while still
'moving', are all that can change the answer. The count of current rows is checked
against the database's at every look: if they ever disagree (a row written some other
way), everything is read again.

For listings only: an action on items reads their rows afresh (ReviewQueue.select).
"""

from __future__ import annotations

from collections.abc import Generator, Sequence

from ..state import LedgerEntry, Store
from ..vocabulary import Outcome

READ_A_STEP = 2000  # ledger rows read between two yields of the first look


class CurrentRows:
    """The current ledger rows of `outcomes`, oldest row first. Cost of a look: nothing
    while the database is unwritten; else one indexed count and the rows written since."""

    def __init__(self, store: Store, outcomes: Sequence[Outcome]) -> None:
        self.store = store
        self.outcomes = tuple(outcomes)
        self._rows: dict[int, LedgerEntry] = {}  # row id → its row, while current
        self._seen: int | None = None  # the highest row id read
        self._moving: set[int] = set()  # rows read while 'moving': read again until settled
        self._generation: int | None = None
        self._ordered: list[LedgerEntry] | None = None
        self.version = 0  # changes whenever the rows do

    def rows(self) -> list[LedgerEntry]:
        """The current rows, by row id (as Ledger.current orders them). The list is
        shared: do not change it. The first look reads them all (see read)."""
        generation = self.store.generation
        if generation != self._generation:
            self._catch_up()
            self._generation = generation
        if self._ordered is None:
            self._ordered = [self._rows[i] for i in sorted(self._rows)]
        return self._ordered

    def read(self) -> Generator[None, None, None]:
        """Long work (steps.py): the first look, READ_A_STEP rows of the ledger a step
        (~0.04 ms a row: JSON), where `rows` would read them all at once. A row written
        meanwhile is past the last one or was 'moving' at the start: read at the next look."""
        if self._seen is not None:
            return
        moving = {row.id for row in self.store.moves_under_way()}
        last, found = self.store.last_id(), dict[int, LedgerEntry]()
        for start in range(1, last + 1, READ_A_STEP):
            found.update((row.id, row) for row in self.store.current(
                self.outcomes, rows=range(start, min(start + READ_A_STEP, last + 1))))
            yield
        if self._seen is None:  # not read at once meanwhile
            self._rows, self._moving, self._seen = found, moving, last
            self._generation, self._ordered = None, None
            self.version += 1

    def _catch_up(self) -> None:
        if self._seen is None:
            self._read_all()
            self._ordered = None
            self.version += 1
            return
        written = self.store.written_since(self._seen, sorted(self._moving))
        changed = False
        for row in written:
            self._seen = max(self._seen, row.id)
            if row.state == "moving":
                self._moving.add(row.id)
                continue
            self._moving.discard(row.id)
            if row.state != "done":
                continue  # abandoned: the row before it stays current
            if row.prior_id is not None and self._rows.pop(row.prior_id, None) is not None:
                changed = True
            if row.next_id is None and row.outcome in self.outcomes:
                self._rows[row.id] = row
                changed = True
        if len(self._rows) != self.store.count_current(self.outcomes):
            self._read_all()  # written some other way than a finished move: start again
            changed = True
        if changed:
            self._ordered = None
            self.version += 1

    def _read_all(self) -> None:
        self._moving = {row.id for row in self.store.moves_under_way()}  # first: see read
        self._seen = self.store.last_id()
        self._rows = {row.id: row for row in self.store.current(self.outcomes)}
