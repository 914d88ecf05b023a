"""What the daemon does with the review queue by itself: file what matches someone once
the references changed (a re-check), and purge what has been in the trash long enough.
Both are long work, a file a step (steps.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Generator
from typing import Any

from ..errors import RefusedError, RouteError
from ..policy.decide import evidence
from ..state import Record
from ..vocabulary import Actor, Outcome
from . import route
from .review import DECIDED_A_STEP, RECHECKED_REASONS, ReviewQueue

log = logging.getLogger("facewatchd.review")


def recheck(queue: ReviewQueue, taught: dict[str, list[int]] | None = None
            ) -> Generator[None, None, list[dict[str, Any]]]:
    """After references changed: file every item that now matches someone, one item
    moved (or DECIDED_A_STEP decided) a step; returns what was filed. It leaves the
    queue decided against the new references, so the listings after it are quick.

    `taught` maps a content hash to the references just made from it, so undoing
    that file's move also takes them back.
    """
    moved = []
    yield from queue.prepare()  # every item decided against the new references, in steps
    for n, item in enumerate(queue.iter_items(queue.entries()), 1):
        if n % DECIDED_A_STEP == 0:
            yield  # deciding 100,000 items is long work too, even where none moves
        if item.reason not in RECHECKED_REASONS or item.decision.outcome != Outcome.SORTED:
            continue
        decision = item.decision
        record = evidence(item.report(), decision)
        record["rule"] = f"after the references changed, {decision.reason}: {decision.rule}"
        folder = item.watch.destination_for(decision.persons[0]) / item.subfolder
        also = [item.watch.destination_for(p) / item.subfolder for p in decision.persons[1:]]
        try:
            target = queue.sorter.relocate(item.entry, folder, Record(
                Outcome.SORTED, decision.reason, decision.persons, record, Actor.RECHECK,
                taught=(taught or {}).get(item.entry.sha256, [])), also=also)
        except (RouteError, RefusedError) as e:
            log.warning("review item %d matches %s now but stays: %s", item.id,
                        ", ".join(decision.persons), e)
            continue
        moved.append({"id": item.id, "path": str(target), "persons": list(decision.persons)})
        yield
    if moved:
        log.info("%d review items matched someone after the references changed", len(moved))
    return moved

def purge(queue: ReviewQueue, days: float, now: float | None = None) -> Generator[None, None, int]:
    """Delete for good what has been in the trash longer than `days`, one file a step.
    A file that cannot be deleted (read-only, immutable) stays, and is tried again at
    the next purge."""
    cutoff = (time.time() if now is None else now) - days * 86400
    purged = 0
    for entry in queue.store.current((Outcome.TRASH,)):
        if entry.updated > cutoff:
            continue
        path = entry.path
        if route.file_sha256(path, queue.sorter.journal.progress) != entry.sha256:
            continue  # not the file we put there: not ours to delete
        try:
            queue.sorter.journal.delete(entry, Record(
                Outcome.PURGED, entry.reason, (), entry.evidence, Actor.PURGE, prior_id=entry.id,
                item_id=entry.item_id))
        except RouteError as e:
            log.warning("could not purge %s from the review trash (tried again at the next "
                        "purge): %s", path, e, extra={"FACEWATCH_PATH": str(path)})
        else:
            purged += 1
            log.info("purged %s from the review trash", path, extra={"FACEWATCH_PATH": str(path)})
        yield
    return purged
