"""files/listing.py: the queue's rows read incrementally are always the ledger's current
rows, whatever moves are begun, finished, abandoned or made meanwhile (a real SQLite
ledger; the moves are the ledger's rows only, no files move)."""

from __future__ import annotations

import random
from pathlib import Path

from facewatchd.files.listing import CurrentRows
from facewatchd.state import Record, Store
from facewatchd.vocabulary import REVIEW_OUTCOMES, Outcome, Reason


def move(store: Store, sha: str, outcome: Outcome, prior: int | None, item: int | None,
         finish: bool = True) -> int:
    row = store.begin_move(sha256=sha, size=1, source=f"/in/{sha}", target=f"/out/{outcome}/{sha}",
                           record=Record(outcome, Reason.UNKNOWN_FACE, prior_id=prior, item_id=item))
    if finish:
        store.finish_move(row)
    return row


def ids(rows: list) -> list[int]:
    return [row.id for row in rows]


def test_rows_read_incrementally_are_the_current_ones(tmp_path: Path) -> None:
    rng = random.Random(3)
    with Store(tmp_path / "state") as store:
        review, trash = CurrentRows(store, REVIEW_OUTCOMES), CurrentRows(store, (Outcome.TRASH,))
        where: dict[str, tuple[int, Outcome, int | None]] = {}  # sha → its current row, outcome, item
        moving: list[tuple[str, int]] = []
        for step in range(400):
            sha = f"{rng.randrange(60):064x}"
            known = where.get(sha)
            choice = rng.random()
            if moving and choice < 0.15:  # a move begun before settles: done or abandoned
                sha, row = moving.pop(rng.randrange(len(moving)))
                if rng.random() < 0.7:
                    store.finish_move(row)
                    entry = store.entry(row)
                    assert entry is not None
                    where[sha] = (row, entry.outcome, entry.item_id)
                else:
                    store.abandon_move(row, "gone")
            elif known is None:
                row = move(store, sha, rng.choice([Outcome.REVIEW, Outcome.FAILED, Outcome.SORTED]), None, None)
                entry = store.entry(row)
                assert entry is not None
                where[sha] = (row, entry.outcome, entry.item_id)
            elif sha not in {s for s, _ in moving}:
                outcome = rng.choice([Outcome.SORTED, Outcome.TRASH, Outcome.REVIEW])
                item = known[2] if outcome != Outcome.SORTED else None
                finish = rng.random() < 0.8
                row = move(store, sha, outcome, known[0], item, finish)
                if finish:
                    where[sha] = (row, outcome, store.entry(row).item_id)  # type: ignore[union-attr]
                else:
                    moving.append((sha, row))
            if step % 7 == 0:
                assert ids(review.rows()) == ids(store.current(REVIEW_OUTCOMES))
                assert ids(trash.rows()) == ids(store.current((Outcome.TRASH,)))
        assert ids(review.rows()) == ids(store.current(REVIEW_OUTCOMES))
        assert review.rows() and trash.rows()


def test_the_first_look_in_steps_misses_nothing_written_meanwhile(tmp_path: Path) -> None:
    """read() reads the rows a few thousand at a time; moves begun before it and finished
    while it reads, and moves made while it reads, are in the next look."""
    with Store(tmp_path / "state") as store:
        first = [move(store, f"{i:064x}", Outcome.REVIEW, None, None) for i in range(2500)]
        under_way = move(store, f"{1:064x}", Outcome.SORTED, first[1], None, finish=False)
        rows = CurrentRows(store, REVIEW_OUTCOMES)
        steps = rows.read()
        next(steps)  # the first rows read
        store.finish_move(under_way)  # item 2 leaves review while the rest is read
        added = move(store, f"{9999:064x}", Outcome.REVIEW, None, None)
        moved_on = move(store, f"{2400:064x}", Outcome.REVIEW, first[2400], first[2400])
        for _ in steps:
            pass
        assert ids(rows.rows()) == ids(store.current(REVIEW_OUTCOMES))
        assert first[1] not in ids(rows.rows()) and {added, moved_on} <= set(ids(rows.rows()))
