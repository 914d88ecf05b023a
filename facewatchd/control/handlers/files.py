"""A file's fate: what would happen to it, why it went where it went, and undo."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from ...errors import NotFoundError, UsageError
from ...files.undo import Undo, parse_since
from ...steps import Analyse, Step
from ...vocabulary import Outcome
from .base import Context, handles
from .queue import face_boxes


@handles("test")
def test(ctx: Context, file: str) -> Step:
    return _test(ctx, ctx.readable(file))  # checked now, for the peer asking now


def _test(ctx: Context, path: str) -> Step:
    (report,) = yield Analyse((path,))
    if report.signature is None:
        return {"file": report.path, "outcome": Outcome.LEFT, "rule": report.error, "faces": []}
    sorter = ctx.service.sorter
    # As if it had arrived in (the first) inbound folder: the sorter's own routing.
    plan = sorter.plan(report, sorter.watch_for(Path(path)) or ctx.service.config.watches[0])
    folders = [plan.folder, *plan.also] if plan.folder else []
    here = sorter.store.current_at(path)  # the daemon put it where it is now
    known = None if here is None or here.sha256 != report.sha256 else {
        "outcome": here.outcome, "reason": here.reason, "item": here.item_id, "persons": here.persons}
    return {**plan.evidence, "file": report.path, "outcome": plan.outcome, "known": known,
            "reason": plan.reason, "persons": list(plan.decision.persons),
            "rule": plan.why if plan.outcome == Outcome.LEFT else plan.evidence["rule"],
            "folders": [str(f) for f in folders],
            "duplicate_of": plan.original.target if plan.original else None}


@handles("why")
def why(ctx: Context, path: str | None = None, item: int | None = None) -> dict[str, Any]:
    if (path is None) == (item is None):
        raise UsageError("why needs a path or a review item's id")
    if item is not None:
        found = ctx.review.find(item)
        if found is None:
            raise NotFoundError(f"no item {item} in review")
        # And what the references in use now say of it (they may have changed since).
        decision = found.decision
        return {**dataclasses.asdict(found.entry), "item": item, "now": face_boxes(found),
                "decision_now": {"outcome": decision.outcome, "reason": decision.reason,
                                 "rule": decision.rule}}
    assert path is not None
    entry = ctx.service.store.entry_for_path(os.path.normpath(path))
    if entry is None:
        raise NotFoundError(f"the ledger has no file at {path}")
    return dataclasses.asdict(entry)


@handles("undo")
def undo(ctx: Context, path: str | None = None, since: str | None = None, user: bool = False,
         entries: list[int] | None = None, dry_run: bool = False) -> Step:
    if [path, since, entries].count(None) != 2:
        raise UsageError("undo one file (PATH), everything since a time (--since), or the moves"
                         " of an action (--entries): one of them")
    if user and since is None:
        raise UsageError("--user goes with --since")
    return _undo(Undo(ctx.service.sorter), path, since, user, entries, dry_run)


def _undo(undo: Undo, path: str | None, since: str | None, user: bool, entries: list[int] | None,
          dry_run: bool) -> Step:
    if path is not None:
        return {"results": [undo.path(path, dry_run)], "dry_run": dry_run}
    if entries is not None:
        return {"results": (yield from undo.entries(entries, dry_run)), "dry_run": dry_run}
    assert since is not None
    return {"results": (yield from undo.since(parse_since(since), dry_run, user)), "dry_run": dry_run}
